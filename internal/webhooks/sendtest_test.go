package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

func TestSendTest(t *testing.T) {
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(int, []byte) int { return http.StatusUnauthorized })
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	a := app("1", hook(good.URL, "member_added"), hook(bad.URL), hook(goneURL))
	now := time.UnixMilli(t0)
	res := SendTest(context.Background(), &a, nil, now)
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].URL != good.URL || res[0].Status != 200 || res[0].Err != nil || res[0].Latency <= 0 {
		t.Errorf("good: %+v", res[0])
	}
	var se *StatusError
	if res[1].Status != 401 || !errors.As(res[1].Err, &se) || se.Code != 401 {
		t.Errorf("bad: %+v", res[1])
	}
	if res[2].Status != 0 || res[2].Err == nil {
		t.Errorf("gone: %+v", res[2])
	}
	r := good.requests()[0]
	want := `{"time_ms":1700000000000,"events":[{"name":"channel_occupied","channel":"herald-webhook-test"}]}`
	if string(r.Body) != want {
		t.Errorf("body %s", r.Body)
	}
	checkSigned(t, r)
}

// answering is a receiver on 127.0.0.1 that records requests and answers
// each with handle.
type answering struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newAnswering(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *answering {
	t.Helper()
	a := &answering{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, request{Header: r.Header.Clone(), Body: body, At: time.Now()})
		a.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *answering) requests() []request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]request(nil), a.reqs...)
}

// noSecrets fails if the result holds the secret or the signature sent.
func noSecrets(t *testing.T, res TestResult, sent []request) {
	t.Helper()
	s := fmt.Sprintf("%+v %v", res, res.Err)
	if strings.Contains(s, testSecret) {
		t.Errorf("result holds the secret: %s", s)
	}
	for _, r := range sent {
		if sig := r.Header.Get("X-Pusher-Signature"); sig != "" && strings.Contains(s, sig) {
			t.Errorf("result holds the signature: %s", s)
		}
	}
}

func TestSendTestToAnswer(t *testing.T) {
	recv := newAnswering(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	other := newAnswering(t, func(http.ResponseWriter, *http.Request) {})
	w := hook(recv.URL+"/hooks?token=abc", "member_added")
	w.Headers = map[string]string{"X-Tenant": "t1", "X-Pusher-Signature": "forged"}
	a := app("1", hook(other.URL), w)
	now := time.UnixMilli(t0)

	res := SendTestTo(context.Background(), &a, w.URL, nil, now)
	if res.Err != nil || res.Status != 200 || res.URL != w.URL || res.Latency <= 0 {
		t.Fatalf("result %+v", res)
	}
	if res.ContentType != "application/json; charset=utf-8" || res.Body != `{"ok":true}` || res.Truncated {
		t.Errorf("answer: %q %q %v", res.ContentType, res.Body, res.Truncated)
	}
	reqs := recv.requests()
	if len(reqs) != 1 || len(other.requests()) != 0 {
		t.Fatalf("%d requests to the endpoint, %d to the other", len(reqs), len(other.requests()))
	}
	r := reqs[0]
	checkSigned(t, r) // exactly application/json, the key, and the signature with the app secret
	// Verified here with the standard library alone, as a receiver would.
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(r.Body)
	if got := r.Header.Get("X-Pusher-Signature"); !hmac.Equal([]byte(got), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		t.Errorf("signature %q does not verify with the app secret", got)
	}
	if r.Header.Get("X-Tenant") != "t1" || r.Header.Get("User-Agent") != userAgent {
		t.Errorf("headers %v", r.Header)
	}
	var p struct {
		TimeMS *int64 `json:"time_ms"`
		Events []struct {
			Name, Channel string
		} `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.TimeMS == nil || *p.TimeMS != t0 ||
		len(p.Events) != 1 || p.Events[0].Name != "channel_occupied" || p.Events[0].Channel != TestChannel {
		t.Errorf("body %s: %+v %v", r.Body, p, err)
	}
	noSecrets(t, res, reqs)
}

func TestSendTestToErrorStatus(t *testing.T) {
	long := strings.Repeat("é", MaxTestBody) // two bytes each: cut mid-rune at MaxTestBody+1
	for name, tc := range map[string]struct {
		status    int
		body      string
		wantBody  string
		truncated bool
	}{
		"500":       {500, "<script>alert(1)</script>\x00\x1b[31m\xff", "<script>alert(1)</script>\uFFFD\uFFFD[31m\uFFFD", false},
		"long body": {502, "x" + long, "x" + long[:MaxTestBody-2], true},
		"redirect":  {302, "", "", false},
	} {
		t.Run(name, func(t *testing.T) {
			followed := newAnswering(t, func(http.ResponseWriter, *http.Request) {})
			recv := newAnswering(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				if tc.status == 302 {
					w.Header().Set("Location", followed.URL)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			a := app("1", hook(recv.URL))
			res := SendTestTo(context.Background(), &a, recv.URL, nil, time.UnixMilli(t0))
			var se *StatusError
			if res.Status != tc.status || !errors.As(res.Err, &se) || se.Code != tc.status {
				t.Fatalf("result %+v", res)
			}
			if res.Body != tc.wantBody || res.Truncated != tc.truncated || res.ContentType != "text/html" {
				t.Errorf("body %q (truncated %v), want %q", res.Body, res.Truncated, tc.wantBody)
			}
			if len(followed.requests()) != 0 {
				t.Error("the redirect was followed")
			}
			noSecrets(t, res, recv.requests())
		})
	}
}

func TestSendTestToFailures(t *testing.T) {
	hang := newAnswering(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	stranger := newAnswering(t, func(http.ResponseWriter, *http.Request) {})
	a := app("1", hook(hang.URL), hook(goneURL), hook("ftp://files.example/hook"), hook("http:///nohost"))
	ctx := context.Background()
	now := time.UnixMilli(t0)

	start := time.Now()
	res := SendTestTo(ctx, &a, hang.URL, NewClient(200*time.Millisecond), now)
	if took := time.Since(start); took > 3*time.Second || res.Status != 0 || res.Err == nil ||
		res.Err.Error() != "timeout: no answer within 200ms" || res.Latency > 3*time.Second {
		t.Errorf("hanging receiver: %+v after %v", res, took)
	}
	// The receiver's handler records the request on its own goroutine.
	for deadline := time.Now().Add(5 * time.Second); len(hang.requests()) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if len(hang.requests()) != 1 {
		t.Errorf("%d requests to the hanging receiver", len(hang.requests()))
	}

	res = SendTestTo(ctx, &a, goneURL, nil, now)
	if res.Status != 0 || res.Err == nil || !strings.HasPrefix(res.Err.Error(), "connection refused") {
		t.Errorf("closed port: %+v", res)
	}

	for _, u := range []string{"ftp://files.example/hook", "http:///nohost"} {
		res = SendTestTo(ctx, &a, u, nil, now)
		if res.Status != 0 || res.Err == nil || !strings.HasPrefix(res.Err.Error(), "refused: ") {
			t.Errorf("%s: %+v", u, res)
		}
	}

	// Not an endpoint of the app: nothing is sent.
	res = SendTestTo(ctx, &a, stranger.URL, nil, now)
	if !errors.Is(res.Err, ErrNotEndpoint) || res.Status != 0 || len(stranger.requests()) != 0 {
		t.Errorf("stranger: %+v, %d requests", res, len(stranger.requests()))
	}
	empty := apps.App{ID: "2", Key: testKey, Secret: testSecret}
	if res = SendTestTo(ctx, &empty, stranger.URL, nil, now); !errors.Is(res.Err, ErrNotEndpoint) {
		t.Errorf("app without webhooks: %+v", res)
	}

	// A cancelled caller ends the attempt at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if res = SendTestTo(cctx, &a, hang.URL, nil, now); res.Err == nil || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("cancelled: %+v", res)
	}
}
