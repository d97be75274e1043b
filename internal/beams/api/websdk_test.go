package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

type webSdkVectors struct {
	VAPID struct {
		Private string `json:"vapidPrivateKey"`
		Public  string `json:"vapidPublicKey"`
	} `json:"vapidKeyPairServedAsWebVapidPublicKey"`
	Steps []struct {
		Call     string `json:"call"`
		Requests []struct {
			Method  string            `json:"method"`
			Path    string            `json:"path"`
			Headers map[string]string `json:"headers"`
			Body    *string           `json:"body"`
			Replied struct {
				Status int     `json:"status"`
				Body   *string `json:"body"`
			} `json:"fakeServerReplied"`
		} `json:"requests"`
	} `json:"steps"`
}

// TestWebSDKSteps replays the web SDK's captured device-API calls in order
// over real HTTP, as a browser would send them from another origin
// (preflights included), and checks each answer is one the SDK takes.
func TestWebSDKSteps(t *testing.T) {
	var v webSdkVectors
	if err := json.Unmarshal(loadVectors(t)["webSdk"], &v); err != nil {
		t.Fatal(err)
	}
	key, err := webpush.ParseVAPIDKey(v.VAPID.Private)
	if err != nil {
		t.Fatal(err)
	}
	// The captured subscription's endpoint is http on loopback.
	e := newEnv(t, withConfig(Config{AllowPrivateEndpoints: true}), withInstance(func(in *instance.Instance) { in.VAPID = key }))
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	const origin = "https://app.example.com"
	const capturedID = "web-11111111-2222-3333-4444-555555555555"
	deviceID := ""
	send := func(method, path string, headers map[string]string, body *string) (*http.Response, string) {
		t.Helper()
		var r io.Reader
		if body != nil {
			r = strings.NewReader(*body)
		}
		req, err := http.NewRequest(method, srv.URL+path, r)
		if err != nil {
			t.Fatal(err)
		}
		for k, val := range headers {
			if k != "content-length" {
				req.Header.Set(k, val)
			}
		}
		req.Header.Set("Origin", origin)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s %s: no CORS", method, path)
		}
		return res, string(b)
	}
	replayed := 0
	for _, step := range v.Steps {
		for _, r := range step.Requests {
			if !strings.HasPrefix(r.Path, "/device_api/") {
				continue // the customer's token endpoint
			}
			path := r.Path
			if deviceID != "" {
				path = strings.Replace(path, capturedID, deviceID, 1)
			}
			_, hasAuth := r.Headers["authorization"]
			_, hasType := r.Headers["content-type"]
			if r.Method == "PUT" || r.Method == "DELETE" || hasAuth || hasType {
				res, _ := send("OPTIONS", path, map[string]string{
					"Access-Control-Request-Method": r.Method, "Access-Control-Request-Headers": "authorization,content-type"}, nil)
				if res.StatusCode != 204 || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), r.Method) ||
					!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
					t.Fatalf("%s: preflight %d %v", step.Call, res.StatusCode, res.Header)
				}
			}
			res, body := send(r.Method, path, r.Headers, r.Body)
			replayed++
			if res.StatusCode != r.Replied.Status {
				t.Fatalf("%s: %s %s: %d %s", step.Call, r.Method, path, res.StatusCode, body)
			}
			if body != "" && res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: Content-Type %q", step.Call, res.Header.Get("Content-Type"))
			}
			switch {
			case strings.HasSuffix(path, "/web-vapid-public-key"):
				if body != *r.Replied.Body {
					t.Fatalf("vapid key %s, want %s", body, *r.Replied.Body)
				}
			case r.Method == "POST" && strings.HasSuffix(path, "/devices/web"):
				var reply map[string]string
				json.Unmarshal([]byte(body), &reply)
				deviceID = reply["id"]
				if len(reply) != 1 || !deviceIDRe.MatchString(deviceID) || !strings.HasPrefix(deviceID, "web-") {
					t.Fatalf("register reply %s", body)
				}
			case r.Method == "GET" && strings.Contains(path, "cursor="):
				// "abc" is a cursor the fake server took; ours are opaque and
				// this one is not ours: any page of the right shape will do.
				var p interestPage
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Interests == nil || p.Meta == nil {
					t.Fatalf("%s: %s", step.Call, body)
				}
			case r.Method == "GET":
				if body != *r.Replied.Body {
					t.Fatalf("%s: %s, want %s", step.Call, body, *r.Replied.Body)
				}
			default:
				if body != "" { // the SDK would swallow a body; we send none
					t.Fatalf("%s: body %q", step.Call, body)
				}
			}
		}
		switch step.Call {
		case "setUserId(alice)":
			d, err := e.store.Get(context.Background(), testID, deviceID)
			if err != nil || d.UserID != "alice" {
				t.Fatalf("after setUserId: %+v %v", d, err)
			}
		case "stop":
			if _, err := e.store.Get(context.Background(), testID, deviceID); err == nil {
				t.Fatal("device still there after stop")
			}
		}
	}
	if replayed != 10 {
		t.Fatalf("replayed %d device-API requests, want 10", replayed)
	}
}
