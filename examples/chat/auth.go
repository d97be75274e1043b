package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/heraldhq/herald/pusher"
)

// Rooms and who may enter them. Each room is one presence channel,
// "presence-room-<name>"; the auth endpoint below is the only place that
// decides who may join it (Herald just checks the signature it issues).

var roomNameRE = regexp.MustCompile(`^[a-z0-9_-]{1,50}$`)

type room struct {
	Name    string
	Members []string // nil: every signed-in user; otherwise only these users
}

// parseRooms reads the -rooms flag: rooms separated by spaces, each
// "name" (open to everyone signed in) or "name=user1,user2" (restricted).
func parseRooms(spec string) ([]room, error) {
	var rooms []room
	seen := map[string]bool{}
	for _, f := range strings.Fields(spec) {
		name, users, restricted := strings.Cut(f, "=")
		if !roomNameRE.MatchString(name) {
			return nil, fmt.Errorf("room %q: a name is 1 to 50 of a-z 0-9 _ -", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("room %q listed twice", name)
		}
		seen[name] = true
		r := room{Name: name}
		if restricted {
			r.Members = []string{}
			for _, u := range strings.Split(users, ",") {
				if !usernameRE.MatchString(u) {
					return nil, fmt.Errorf("room %q: bad username %q", name, u)
				}
				r.Members = append(r.Members, u)
			}
		}
		rooms = append(rooms, r)
	}
	if len(rooms) == 0 {
		return nil, fmt.Errorf("no rooms configured")
	}
	return rooms, nil
}

func (a *app) findRoom(name string) (room, bool) {
	for _, r := range a.rooms {
		if r.Name == name {
			return r, true
		}
	}
	return room{}, false
}

// mayEnter reports whether user may join (and post to) the named room.
func (a *app) mayEnter(user, name string) bool {
	r, ok := a.findRoom(name)
	if !ok || user == "" {
		return false
	}
	return r.Members == nil || slices.Contains(r.Members, user)
}

func presenceChannel(roomName string) string { return "presence-room-" + roomName }

// roomOfChannel maps the channels this app hands out to their room:
// presence-room-<name> (the chat itself) and private-room-<name> (not used
// by the page, but authorized by the same rule). Everything else: false.
func roomOfChannel(channel string) (string, bool) {
	for _, prefix := range []string{"presence-room-", "private-room-"} {
		if name, ok := strings.CutPrefix(channel, prefix); ok {
			return name, true
		}
	}
	return "", false
}

// signedInSession is the common gate of every endpoint that acts for a
// user: a live session (403), the session's CSRF token in X-CSRF-Token
// (403), and a signed-in user (403). It writes the refusal itself.
func (a *app) signedInSession(w http.ResponseWriter, r *http.Request) (*session, bool) {
	sess := a.sessions.get(r)
	switch {
	case sess == nil:
		refuse(w, r, http.StatusForbidden, "no session: sign in first")
	case !validCSRF(sess, r.Header.Get(csrfHeader)):
		refuse(w, r, http.StatusForbidden, "missing or invalid CSRF token")
	case sess.user == "":
		refuse(w, r, http.StatusForbidden, "not signed in")
	default:
		return sess, true
	}
	return nil, false
}

// authRequest does what both auth endpoints check first: POST only, a
// signed-in session (with its CSRF token), a readable body.
func (a *app) authRequest(w http.ResponseWriter, r *http.Request) (*session, []byte, bool) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w)
		return nil, nil, false
	}
	sess, ok := a.signedInSession(w, r)
	if !ok {
		return nil, nil, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		refuse(w, r, bodyErrorStatus(err), "unreadable body")
		return nil, nil, false
	}
	return sess, body, true
}

// parseForm parses a form body, refusing one that is unreadable (400) or
// over the routes' size bound (413) instead of reading it as empty.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		refuse(w, r, bodyErrorStatus(err), "unreadable form body")
		return false
	}
	return true
}

func bodyErrorStatus(err error) int {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// handleChannelAuth is pusher-js's channelAuthorization endpoint: it signs
// a subscription to presence-room-<name> / private-room-<name> for one
// socket, only for a signed-in user allowed in that room.
func (a *app) handleChannelAuth(w http.ResponseWriter, r *http.Request) {
	sess, body, ok := a.authRequest(w, r)
	if !ok {
		return
	}
	// Refuses a socket_id that is not "<digits>.<digits>" and bad channel names.
	p, err := pusher.ParseChannelAuthRequest(body)
	if err != nil {
		refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	name, ok := roomOfChannel(p.Channel)
	if !ok || !a.mayEnter(sess.user, name) {
		refuse(w, r, http.StatusForbidden, fmt.Sprintf("%s may not join %s", sess.user, p.Channel))
		return
	}
	if strings.HasPrefix(p.Channel, "presence-") {
		// The member is always the session's user, never anything the
		// browser sent.
		p.Member = &pusher.Member{UserID: sess.user, UserInfo: map[string]string{"name": sess.user}}
	}
	auth, err := a.pusher.AuthorizeChannel(p)
	if err != nil {
		refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, auth)
}

// handleUserAuth is pusher-js's userAuthentication endpoint (signin()):
// it tells Herald which user this socket belongs to, so the backend can
// reach the user with SendToUser (the page's @mention notices).
func (a *app) handleUserAuth(w http.ResponseWriter, r *http.Request) {
	sess, body, ok := a.authRequest(w, r)
	if !ok {
		return
	}
	socketID, err := pusher.ParseUserAuthRequest(body)
	if err != nil {
		refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ua, err := a.pusher.AuthenticateUser(pusher.UserAuthParams{
		SocketID: socketID,
		User:     pusher.UserData{ID: sess.user, UserInfo: map[string]string{"name": sess.user}},
	})
	if err != nil {
		refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, ua)
}

func refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	log.Printf("%s %s: %d %s", r.Method, r.URL.Path, status, reason)
	http.Error(w, reason, status)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
