package test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/pushtest"
	"github.com/heraldhq/herald/internal/beams/token"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/redistest"
)

const (
	beamsID     = "00000000-0000-0000-0000-000000000001"
	beamsSecret = "beams-secret-key"
)

// beamsServer runs Herald with one Beams instance whose devices may use the
// loopback test push service.
func beamsServer(t *testing.T, dataDir string) *testServer {
	t.Helper()
	return startServer(t, func(c *config.Config) {
		c.DataDir = dataDir
		c.Beams = config.BeamsConfig{AllowPrivateEndpoints: true,
			Instances: []config.BeamsInstance{{ID: beamsID, SecretKey: beamsSecret}}}
	})
}

func beamsCall(t *testing.T, s *testServer, method, path, bearer string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.baseURL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// registerWeb registers a browser subscribed at push and returns its device id.
func registerWeb(t *testing.T, s *testServer, push *pushtest.Service) (string, *pushtest.Subscription) {
	t.Helper()
	dev := "/device_api/v1/instances/" + beamsID
	code, body := beamsCall(t, s, "GET", dev+"/web-vapid-public-key", "", nil)
	var key struct{ VapidPublicKey string }
	if code != 200 || json.Unmarshal(body, &key) != nil || key.VapidPublicKey == "" {
		t.Fatalf("vapid key: %d %s", code, body)
	}
	sub := push.Subscribe(key.VapidPublicKey)
	code, body = beamsCall(t, s, "POST", dev+"/devices/web", "", map[string]any{"token": sub.Token(), "metadata": map[string]string{"sdkVersion": "2.1.0"}})
	var reg struct{ ID string }
	if code != 200 || json.Unmarshal(body, &reg) != nil || !strings.HasPrefix(reg.ID, "web-") {
		t.Fatalf("register: %d %s", code, body)
	}
	return reg.ID, sub
}

func publish(t *testing.T, s *testServer, route string, body any) string {
	t.Helper()
	code, out := beamsCall(t, s, "POST", "/publish_api/v1/instances/"+beamsID+"/publishes"+route, beamsSecret, body)
	var r struct{ PublishID string }
	if code != 200 || json.Unmarshal(out, &r) != nil || !strings.HasPrefix(r.PublishID, "pubid-") {
		t.Fatalf("publish: %d %s", code, out)
	}
	return r.PublishID
}

// pushed waits for the next message the push service decrypted.
func pushed(t *testing.T, push *pushtest.Service) (pushtest.Message, map[string]any) {
	t.Helper()
	select {
	case m := <-push.Messages():
		var v map[string]any
		if err := json.Unmarshal(m.Plaintext, &v); err != nil {
			t.Fatalf("plaintext %q: %v", m.Plaintext, err)
		}
		return m, v
	case <-time.After(10 * time.Second):
		t.Fatalf("no push within 10s (rejected: %v)", push.Rejected())
	}
	return pushtest.Message{}, nil
}

func publishIDOf(t *testing.T, v map[string]any) string {
	t.Helper()
	data, _ := v["data"].(map[string]any)
	p, _ := data["pusher"].(map[string]any)
	id, _ := p["publishId"].(string)
	return id
}

// The whole path through a real server: a browser registers, subscribes
// to an interest and joins a user; publishes to the interest and to the
// user arrive encrypted and VAPID-signed at its push service; deleting
// the user removes the device.
func TestBeamsEndToEnd(t *testing.T) {
	push := pushtest.Start(t, time.Now)
	s := beamsServer(t, t.TempDir())
	dev := "/device_api/v1/instances/" + beamsID + "/devices/web/"
	id, sub := registerWeb(t, s, push)
	if code, body := beamsCall(t, s, "POST", dev+id+"/interests/hello", "", nil); code != 200 {
		t.Fatalf("add interest: %d %s", code, body)
	}

	pub := publish(t, s, "/interests", map[string]any{"interests": []string{"hello", "other"},
		"web": map[string]any{"notification": map[string]any{"title": "Hi", "body": "there"}, "data": map[string]any{"k": 1}}})
	m, v := pushed(t, push)
	if m.Subscription != sub.ID || publishIDOf(t, v) != pub {
		t.Fatalf("push to %s with %v, want %s with publishId %s", m.Subscription, v, sub.ID, pub)
	}
	if n := v["notification"].(map[string]any); n["title"] != "Hi" {
		t.Fatalf("notification = %v", n)
	}

	tok := token.Generate(beamsID, beamsSecret, "alice", time.Now())
	if code, body := beamsCall(t, s, "PUT", dev+id+"/user", tok, nil); code != 200 {
		t.Fatalf("set user: %d %s", code, body)
	}
	pub = publish(t, s, "/users", map[string]any{"users": []string{"alice"}, "web": map[string]any{"notification": map[string]any{"title": "For Alice"}}})
	if _, v := pushed(t, push); publishIDOf(t, v) != pub {
		t.Fatalf("user publish carried %v, want %s", v, pub)
	}

	if code, body := beamsCall(t, s, "DELETE", "/customer_api/v1/instances/"+beamsID+"/users/alice", beamsSecret, nil); code != 200 || len(body) != 0 {
		t.Fatalf("delete user: %d %q", code, body)
	}
	if code, _ := beamsCall(t, s, "GET", dev+id, "", nil); code != 404 {
		t.Fatalf("device of a deleted user: %d, want 404", code)
	}
}

// A device whose subscription expired (410) is deleted after the push.
func TestBeamsGoneDeviceDeleted(t *testing.T) {
	push := pushtest.Start(t, time.Now)
	s := beamsServer(t, t.TempDir())
	id, sub := registerWeb(t, s, push)
	dev := "/device_api/v1/instances/" + beamsID + "/devices/web/" + id
	beamsCall(t, s, "POST", dev+"/interests/hello", "", nil)
	push.Expire(sub.ID)
	publish(t, s, "/interests", map[string]any{"interests": []string{"hello"}, "web": map[string]any{"notification": map[string]any{"title": "x"}}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := beamsCall(t, s, "GET", dev, "", nil)
		if code == 404 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("device still there 10s after its push service said 410 (GET %d)", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Devices and the VAPID key survive a restart: a browser subscribed before
// still gets pushes signed with the key it subscribed with.
func TestBeamsRestartKeepsDevicesAndKey(t *testing.T) {
	push := pushtest.Start(t, time.Now)
	dir := t.TempDir()
	s := beamsServer(t, dir)
	id, sub := registerWeb(t, s, push)
	beamsCall(t, s, "POST", "/device_api/v1/instances/"+beamsID+"/devices/web/"+id+"/interests/hello", "", nil)
	if err := s.stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	s2 := beamsServer(t, dir)
	pub := publish(t, s2, "/interests", map[string]any{"interests": []string{"hello"}, "web": map[string]any{"notification": map[string]any{"title": "again"}}})
	m, v := pushed(t, push)
	if m.Subscription != sub.ID || publishIDOf(t, v) != pub {
		t.Fatalf("after restart: push to %s %v", m.Subscription, v)
	}
}

// The Beams SDKs cannot add a path prefix, so the API answers at the root
// as well as under it; escaped slashes in user ids stay inside one id.
func TestBeamsUnderPathPrefix(t *testing.T) {
	push := pushtest.Start(t, time.Now)
	s := startServer(t, func(c *config.Config) {
		c.DataDir = t.TempDir()
		c.PathPrefix = "/herald"
		c.Beams = config.BeamsConfig{AllowPrivateEndpoints: true,
			Instances: []config.BeamsInstance{{ID: beamsID, SecretKey: beamsSecret}}}
	})
	id, _ := registerWeb(t, s, push) // at the root
	dev := "/herald/device_api/v1/instances/" + beamsID + "/devices/web/" + id
	user := "a/b ü"
	tok := token.Generate(beamsID, beamsSecret, user, time.Now())
	if code, body := beamsCall(t, s, "PUT", dev+"/user", tok, nil); code != 200 {
		t.Fatalf("set user under the prefix: %d %s", code, body)
	}
	for _, path := range []string{"/herald/customer_api/v1/instances/" + beamsID + "/users/a%2Fb%20%C3%BC"} {
		if code, body := beamsCall(t, s, "DELETE", path, beamsSecret, nil); code != 200 {
			t.Fatalf("DELETE %s: %d %s", path, code, body)
		}
	}
	if code, _ := beamsCall(t, s, "GET", dev, "", nil); code != 404 {
		t.Fatalf("device of the deleted user %q: %d, want 404", user, code)
	}
}

// An instance created through the admin API is served at once: devices
// register and get its publishes; rotating its key without grace retires
// the old key within the registry's refresh.
func TestBeamsStoredInstance(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	push := pushtest.Start(t, time.Now)
	s := startServer(t, func(c *config.Config) {
		c.DataDir = t.TempDir()
		c.Beams.AllowPrivateEndpoints = true
	})
	code, body := adminCall(t, s, "POST", "/admin/beams/instances", `{"vapid_subject":"mailto:ops@example.com"}`)
	var in struct {
		ID        string `json:"id"`
		SecretKey string `json:"secret_key"`
	}
	if json.Unmarshal(body, &in) != nil || code != 201 || in.SecretKey == "" {
		t.Fatalf("create: %d %s", code, body)
	}

	dev := "/device_api/v1/instances/" + in.ID
	code, body = beamsCall(t, s, "GET", dev+"/web-vapid-public-key", "", nil)
	var key struct{ VapidPublicKey string }
	if code != 200 || json.Unmarshal(body, &key) != nil {
		t.Fatalf("vapid key: %d %s", code, body)
	}
	sub := push.Subscribe(key.VapidPublicKey)
	code, body = beamsCall(t, s, "POST", dev+"/devices/web", "", map[string]any{"token": sub.Token()})
	var reg struct{ ID string }
	if code != 200 || json.Unmarshal(body, &reg) != nil {
		t.Fatalf("register: %d %s", code, body)
	}
	beamsCall(t, s, "POST", dev+"/devices/web/"+reg.ID+"/interests/news", "", nil)
	pubPath := "/publish_api/v1/instances/" + in.ID + "/publishes/interests"
	msg := map[string]any{"interests": []string{"news"}, "web": map[string]any{"notification": map[string]any{"title": "n"}}}
	code, body = beamsCall(t, s, "POST", pubPath, in.SecretKey, msg)
	if code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	if m, _ := pushed(t, push); m.Claims.Sub != "mailto:ops@example.com" {
		t.Fatalf("VAPID sub = %q", m.Claims.Sub)
	}

	code, body = adminCall(t, s, "POST", "/admin/beams/instances/"+in.ID+"/rotate-key", `{"grace":"0s"}`)
	var rotated struct {
		SecretKey string `json:"secret_key"`
	}
	if code != 200 || json.Unmarshal(body, &rotated) != nil || rotated.SecretKey == "" || rotated.SecretKey == in.SecretKey {
		t.Fatalf("rotate: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		old, _ := beamsCall(t, s, "POST", pubPath, in.SecretKey, msg)
		cur, body := beamsCall(t, s, "POST", pubPath, rotated.SecretKey, msg)
		if old == 401 && cur == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the rotation: old key %d, new key %d %s", old, cur, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two cluster nodes sharing Redis (the publish queue) and PostgreSQL (the
// devices and the VAPID key): a browser registered through one node gets a
// publish accepted by the other exactly once, signed with the one key both
// serve.
func TestBeamsCluster(t *testing.T) {
	rdb := redistest.Start(t)
	dsn := pgtest.Start(t).NewDB(t)
	push := pushtest.Start(t, time.Now)
	node := func(name string) *testServer {
		return startServer(t, func(c *config.Config) {
			c.DataDir = t.TempDir()
			c.DatabaseURL = dsn
			c.NodeID = name
			c.Redis = config.RedisConfig{URL: rdb.URL(), Prefix: "beamstest"}
			c.Beams = config.BeamsConfig{AllowPrivateEndpoints: true,
				Instances: []config.BeamsInstance{{ID: beamsID, SecretKey: beamsSecret}}}
		})
	}
	a, b := node("node-a"), node("node-b")
	id, sub := registerWeb(t, a, push)
	beamsCall(t, a, "POST", "/device_api/v1/instances/"+beamsID+"/devices/web/"+id+"/interests/hello", "", nil)
	for i := range 5 {
		pub := publish(t, b, "/interests", map[string]any{"interests": []string{"hello"}, "web": map[string]any{"notification": map[string]any{"title": strconv.Itoa(i)}}})
		m, v := pushed(t, push)
		if m.Subscription != sub.ID || publishIDOf(t, v) != pub {
			t.Fatalf("publish %d: push to %s %v, want publishId %s", i, m.Subscription, v, pub)
		}
	}
	select {
	case m := <-push.Messages():
		t.Fatalf("a publish was delivered twice: %s", m.Plaintext)
	case <-time.After(500 * time.Millisecond):
	}
	if r := push.Rejected(); len(r) > 0 {
		t.Fatalf("the push service refused pushes (VAPID key differs between nodes?): %v", r)
	}
}

// A Beams path that is not clean still gets the Beams API's JSON error
// (with both fields) and CORS, not the Channels 404: the SDKs only read that.
func TestBeamsOddPathsAnsweredByBeams(t *testing.T) {
	s := beamsServer(t, t.TempDir())
	for _, p := range []string{
		"/device_api/v1/instances/" + beamsID + "/devices/web//interests",
		"/device_api/v1/instances/" + beamsID + "/devices/web/./interests",
	} {
		req, _ := http.NewRequest("GET", s.baseURL()+p, nil)
		req.Header.Set("Origin", "https://app.example.com")
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error, Description string }
		if resp.StatusCode != 404 || json.Unmarshal(body, &e) != nil || e.Error == "" || e.Description == "" ||
			resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("GET %s: %d %s (CORS %q)", p, resp.StatusCode, body, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}
