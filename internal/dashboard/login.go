package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// maxLimitedAddrs bounds the client addresses the login limiter tracks;
// past it new addresses are bounded by the global limit only.
const maxLimitedAddrs = 10_000

// loginLimiter counts failed logins per client address and in all, over a
// sliding window. Only failures count: a blocked attempt is not checked
// at all, so it cannot guess.
type loginLimiter struct {
	window          time.Duration
	perAddr, global int

	mu      sync.Mutex
	addrs   map[string]*addrFailures
	all     []time.Time // the newest `global` failures, oldest first
	warnAll bool        // the global block has been logged
}

type addrFailures struct {
	times []time.Time // the newest perAddr failures, oldest first
	warn  bool        // this block has been logged
}

func newLoginLimiter(window time.Duration, perAddr, global int) *loginLimiter {
	return &loginLimiter{window: window, perAddr: perAddr, global: global, addrs: make(map[string]*addrFailures)}
}

// dropOld removes the times at or before cutoff from the sorted ts.
func dropOld(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return ts[i:]
}

// blocked returns how long addr must wait before its next login (0: it may
// try now) and whether this is the first refusal of the block, to be logged.
func (l *loginLimiter) blocked(addr string, now time.Time) (wait time.Duration, first bool) {
	cutoff := now.Add(-l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = dropOld(l.all, cutoff)
	if len(l.all) >= l.global {
		wait = l.all[0].Add(l.window).Sub(now)
		first, l.warnAll = !l.warnAll, true
	} else {
		l.warnAll = false
	}
	if a := l.addrs[addr]; a != nil {
		a.times = dropOld(a.times, cutoff)
		switch {
		case len(a.times) >= l.perAddr:
			wait = max(wait, a.times[0].Add(l.window).Sub(now))
			first = first || !a.warn
			a.warn = true
		case len(a.times) == 0:
			delete(l.addrs, addr)
		default:
			a.warn = false
		}
	}
	return wait, first
}

// fail records a failed login from addr.
func (l *loginLimiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = appendBounded(l.all, now, l.global)
	a := l.addrs[addr]
	if a == nil {
		if len(l.addrs) >= maxLimitedAddrs {
			l.pruneLocked(now.Add(-l.window))
		}
		if len(l.addrs) >= maxLimitedAddrs {
			return
		}
		a = &addrFailures{}
		l.addrs[addr] = a
	}
	a.times = appendBounded(a.times, now, l.perAddr)
}

func (l *loginLimiter) pruneLocked(cutoff time.Time) {
	for k, a := range l.addrs {
		if a.times = dropOld(a.times, cutoff); len(a.times) == 0 {
			delete(l.addrs, k)
		}
	}
}

// appendBounded appends t, keeping the newest n.
func appendBounded(ts []time.Time, t time.Time, n int) []time.Time {
	ts = append(ts, t)
	if len(ts) > n {
		ts = append(ts[:0], ts[len(ts)-n:]...)
	}
	return ts
}

type loginPage struct {
	page
	Message string
}

// loginForm shows the login form, with a fresh login CSRF cookie unless
// the browser holds one; a logged-in browser goes to the app list.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, c *call) {
	if live, _ := h.session(r, c); live {
		http.Redirect(w, r, c.link("/"), http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, c, http.StatusOK, "")
}

// renderLogin renders the login form with a login CSRF token, reusing the
// browser's cookie when it holds one (several tabs keep working).
func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, c *call, status int, msg string) {
	tok := ""
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) == 43 {
		tok = ck.Value
	} else {
		var err error
		if tok, err = randomToken(); err != nil {
			h.internalError(w, r, c, err)
			return
		}
		http.SetCookie(w, h.cookie(r, loginCookie, tok, int(loginTTL/time.Second)))
	}
	p := &loginPage{page: h.newPage(c, "Log in"), Message: msg}
	p.CSRF = tok
	p.LoggedOut = true
	h.render(w, r, c, status, "login", p)
}

// login exchanges the admin token for a session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, c *call) {
	now := h.now()
	if wait, first := h.limiter.blocked(c.remote, now); wait > 0 {
		if first {
			h.log.Warn("dashboard logins refused after too many failures", "remote", c.remote, "retry_after", wait.Round(time.Second))
		}
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.renderLogin(w, r, c, http.StatusTooManyRequests,
			"Too many failed logins. Try again in "+strconv.Itoa(secs)+" seconds.")
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || !equalTokens(r.PostForm.Get(csrfField), ck.Value) {
		h.renderLogin(w, r, c, http.StatusForbidden, "The login form has expired. Enter the token again.")
		return
	}
	got := sha256.Sum256([]byte(r.PostForm.Get("token"))) // equal lengths: the comparison leaks nothing
	if subtle.ConstantTimeCompare(got[:], h.token[:]) != 1 {
		h.limiter.fail(c.remote, now)
		h.log.Warn("dashboard login failed: wrong admin token", "remote", c.remote)
		h.renderLogin(w, r, c, http.StatusUnauthorized, "Wrong token.")
		return
	}
	sid, _, err := h.sessions.create(now)
	if err != nil {
		h.internalError(w, r, c, err)
		return
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, sid, int(h.cfg.SessionTTL/time.Second)))
	http.SetCookie(w, h.cookie(r, loginCookie, "", -1))
	h.log.Info("dashboard login", "remote", c.remote)
	http.Redirect(w, r, c.link("/"), http.StatusSeeOther)
}

// logout ends the session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c *call) {
	h.sessions.delete(c.sid)
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -1))
	h.log.Info("dashboard logout", "remote", c.remote)
	http.Redirect(w, r, c.link("/login"), http.StatusSeeOther)
}
