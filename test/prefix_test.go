package test

import (
	"net/url"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// Under a path prefix, the WebSocket edge, health and the API live below it,
// and API signatures over the full path (SDKs told about the prefix) and
// over the path without it are both accepted.
func TestPathPrefix(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.PathPrefix = "/rt" })
	c := dial(t, s, "/rt"+pusherPath(appKey))
	c.established()
	c.subscribe("news")

	for _, signed := range []string{"/rt/apps/" + appID + "/channels", "/apps/" + appID + "/channels"} {
		q := signing.SignRequest(appCred, "GET", signed, url.Values{}, nil, time.Now())
		r := s.do("GET", "/rt/apps/"+appID+"/channels?"+q.Encode(), nil)
		expectStatus(t, r, 200)
		expectJSON(t, r, `{"channels":{"news":{}}}`)
	}
	if r := s.do("GET", "/rt/ready", nil); r.status != 200 {
		t.Errorf("GET /rt/ready: %v", r)
	}
	expectStatus(t, s.do("GET", "/apps/"+appID+"/channels", nil), 404)
}

// TestPathPrefixShortTerminate: /users/{id}/terminate_connections (the
// Python SDK's path, no /apps/{app_id}) lives below the prefix too.
func TestPathPrefixShortTerminate(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.PathPrefix = "/rt" })
	for _, signed := range []string{"/rt/users/alice/terminate_connections", "/users/alice/terminate_connections"} {
		q := signing.SignRequest(appCred, "POST", signed, nil, []byte(`{}`), time.Now())
		expectJSON(t, s.do("POST", "/rt/users/alice/terminate_connections?"+q.Encode(), []byte(`{}`)), `{}`)
	}
	q := signing.SignRequest(appCred, "POST", "/users/alice/terminate_connections", nil, []byte(`{}`), time.Now())
	expectStatus(t, s.do("POST", "/users/alice/terminate_connections?"+q.Encode(), []byte(`{}`)), 404)
}
