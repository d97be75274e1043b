package test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/apps/sqlstore"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

const adminToken = "test-admin-token-0123456789"

func adminCall(t *testing.T, s *testServer, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.baseURL()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// Apps created in the SQL store (as `herald apps create` does) serve
// connections and API calls next to the config's apps; the admin API
// creates, rotates and disables apps on a running server, and disabling
// closes the app's connections with 4003.
func TestSQLAppStoreAndAdminAPI(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(dir, "apps.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Create(context.Background(), &apps.App{ID: "sql-1", Key: "sql-key-1", Secret: "sql-secret-0123456789", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s := startServer(t, func(c *config.Config) { c.DataDir = dir })

	// The pre-existing SQL app works at the wire and over the API.
	connectKey(t, s, "sql-key-1")
	q := signing.SignRequest(signing.Credential{Key: "sql-key-1", Secret: "sql-secret-0123456789"}, "GET", "/apps/sql-1/channels", url.Values{}, nil, time.Now())
	expectStatus(t, s.do("GET", "/apps/sql-1/channels?"+q.Encode(), nil), 200)

	// Admin API: without the token → 401.
	if r := s.do("GET", "/admin/apps", nil); r.status != 401 {
		t.Fatalf("admin without token: %v", r)
	}
	status, body := adminCall(t, s, "POST", "/admin/apps", `{"id":"made-1","key":"made-key-1","enable_client_messages":true}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var created struct{ ID, Key, Secret string }
	if err := json.Unmarshal(body, &created); err != nil || created.Secret == "" {
		t.Fatalf("create returned no secret: %s", body)
	}
	// A new app is usable at once on this node.
	made := connectKey(t, s, "made-key-1")

	// Rotation: both secrets sign during the grace period.
	status, body = adminCall(t, s, "POST", "/admin/apps/made-1/rotate-secret", `{"grace":"1h"}`)
	if status != 200 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	var rotated struct{ Secret string }
	if err := json.Unmarshal(body, &rotated); err != nil || rotated.Secret == "" || rotated.Secret == created.Secret {
		t.Fatalf("rotate must return a new secret: %s", body)
	}
	for _, secret := range []string{created.Secret, rotated.Secret} {
		q := signing.SignRequest(signing.Credential{Key: "made-key-1", Secret: secret}, "GET", "/apps/made-1/channels", url.Values{}, nil, time.Now())
		expectStatus(t, s.do("GET", "/apps/made-1/channels?"+q.Encode(), nil), 200)
	}

	// Disabling closes the app's live connections with 4003 and refuses new ones.
	if status, body = adminCall(t, s, "POST", "/admin/apps/made-1/disable", ""); status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	made.expectClose(4003, 5*time.Second)
	refused := dial(t, s, pusherPath("made-key-1"))
	refused.expectClose(4003, 5*time.Second)
}
