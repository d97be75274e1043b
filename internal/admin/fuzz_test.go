package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// FuzzAdminAppJSON sends the admin API fuzzed app JSON (create, update,
// rotate-secret) and a fuzzed Authorization header. Every answer is JSON
// with a status the API documents, never 500 (the store does not fail
// here); only the exact bearer token gets in; a refused request leaves the
// store unchanged; an accepted one stores an app that passes
// apps.Validate and is answered with that app.
func FuzzAdminAppJSON(f *testing.F) {
	const bearerToken = "Bearer " + token
	for _, s := range []struct {
		op   uint8
		body string
	}{
		{0, `{}`}, {0, `{"id":"new-app","key":"new-key","secret":"0123456789abcdef0123"}`},
		{0, `{"id":"app1"}`}, {0, `{"key":"key2"}`}, {0, `{"secret":""}`}, {0, `{"id":"a b"}`},
		{0, `{"max_event_payload_kb":1048576,"max_user_info_kb":-1}`}, {0, `{"max_event_payload_kb":1048577}`},
		{0, `{"api_rate_limit":1e308,"api_rate_burst":-1,"allowed_origins":["*","https://*.example.com","ftp://x"]}`},
		{0, `{"webhooks":[{"url":"https://example.com/h","event_types":["channel_occupied"],"headers":{"X-A":"b"},"filter":{"channel_name_starts_with":"p"}}]}`},
		{0, `{"webhooks":[{"url":"http://h","event_types":[],"headers":{"bad name":"v\n"}}]}`},
		{0, `{"previous_secrets":[]}`}, {0, `{"unknown":1}`}, {0, `{} {}`}, {0, `[]`}, {0, ``}, {0, `null`},
		{1, `{"enabled":false,"max_connections":10}`}, {1, `{"key":"key2"}`}, {1, `{"id":"other"}`},
		{1, `{"secret":"0123456789abcdef0123"}`}, {1, `{"allowed_origins":null,"webhooks":null}`},
		{2, ``}, {2, `{"grace":"1h"}`}, {2, `{"grace":"721h"}`}, {2, `{"grace":"-1s"}`}, {2, `{"grace":"x"}`},
		{0, `{"id":"big","key":"` + strings.Repeat("k", 70<<10) + `"}`},
	} {
		f.Add(s.op, []byte(s.body), bearerToken)
	}
	f.Add(uint8(0), []byte(`{}`), "bearer "+token)
	f.Add(uint8(0), []byte(`{}`), "  Bearer   "+token+"  ")
	f.Add(uint8(1), []byte(`{}`), "Bearer "+token+"x")
	f.Add(uint8(2), []byte(`{}`), "Basic "+token)
	f.Add(uint8(0), []byte(`{}`), "")

	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, op uint8, body []byte, authz string) {
		store := newFake()
		for _, a := range []*apps.App{
			{ID: "app1", Key: "key1", Secret: "secret-0123456789abcdef", Enabled: true},
			{ID: "app2", Key: "key2", Secret: "secret-0123456789abcdef", Enabled: true},
		} {
			if err := store.Create(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
		h := New(Config{Token: token}, Deps{Apps: store, Now: func() time.Time { return now }})
		before := snapshot(t, store)

		method, path := http.MethodPost, "/admin/apps"
		switch op % 3 {
		case 1:
			method, path = http.MethodPatch, "/admin/apps/app1"
		case 2:
			path = "/admin/apps/app1/rotate-secret"
		}
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		if strings.ContainsAny(authz, "\r\n\x00") {
			return // net/http never delivers such a header
		}
		r.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		allowed := []int{200, 201, 400, 401, 403, 404, 409, 413, 422}
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d with Content-Type %q, body %q", method, path, rec.Code, ct, rec.Body)
		}
		tok, ok := bearer(authz)
		authorized := ok && tok == token
		if authorized != (rec.Code != 401 && rec.Code != 403) {
			t.Fatalf("Authorization %q answered %d", authz, rec.Code)
		}
		if rec.Code >= 400 {
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("refusal body %q", rec.Body)
			}
			if after := snapshot(t, store); after != before {
				t.Fatalf("refused (%d) %s %s %q changed the store:\n%s\n---\n%s", rec.Code, method, path, body, before, after)
			}
			if rec.Code == 413 && len(body) <= MaxBodyBytes {
				t.Fatalf("%d-byte body refused as too large", len(body))
			}
			return
		}
		if len(body) > MaxBodyBytes {
			t.Fatalf("%d-byte body accepted (limit %d)", len(body), MaxBodyBytes)
		}

		var got App
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("answer %q: %v", rec.Body, err)
		}
		a, err := store.ByID(context.Background(), got.ID)
		if err != nil {
			t.Fatalf("answered app %q is not stored: %v", got.ID, err)
		}
		if err := apps.Validate(a); err != nil {
			t.Fatalf("stored an invalid app from %q: %v", body, err)
		}
		want, _ := json.Marshal(FromApp(a, got.Secret != ""))
		if !jsonSame(t, want, rec.Body.Bytes()) {
			t.Fatalf("answered %s, stored %s", rec.Body, want)
		}
		switch op % 3 {
		case 0:
			if rec.Code != http.StatusCreated || got.Secret == "" {
				t.Fatalf("create answered %d without a secret", rec.Code)
			}
		case 1:
			if got.ID != "app1" || a.Secret != "secret-0123456789abcdef" {
				t.Fatalf("update changed the id or secret: %+v", a)
			}
		case 2:
			if a.Secret == "secret-0123456789abcdef" || len(a.PreviousSecrets) > 1 {
				t.Fatalf("rotation left %+v", a)
			}
			for _, p := range a.PreviousSecrets {
				if p.Secret != "secret-0123456789abcdef" || p.ExpiresAt.After(now.Add(apps.MaxRotationGrace)) || !p.ExpiresAt.After(now) {
					t.Fatalf("previous secret %+v after a rotation at %v", p, now)
				}
			}
		}
	})
}

// snapshot is the whole store as JSON, secrets included.
func snapshot(t *testing.T, m *fakeManager) string {
	t.Helper()
	list, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list, func(a, b *apps.App) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonSame(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}
