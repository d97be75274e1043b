package apps

import (
	"context"
	"errors"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewCredentials(t *testing.T) {
	idRe := regexp.MustCompile(`^[1-9][0-9]{6}$`)
	keyRe := regexp.MustCompile(`^[0-9a-f]{20}$`)
	secretRe := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for range 50 {
		id, key, secret, err := NewCredentials()
		if err != nil {
			t.Fatal(err)
		}
		if !idRe.MatchString(id) || !keyRe.MatchString(key) || !secretRe.MatchString(secret) {
			t.Fatalf("bad credentials id=%q key=%q secret len %d", id, key, len(secret))
		}
		if seen[key] || seen[secret] {
			t.Fatal("repeated key or secret")
		}
		seen[key], seen[secret] = true, true
		if err := Validate(&App{ID: id, Key: key, Secret: secret}); err != nil {
			t.Fatalf("generated credentials do not validate: %v", err)
		}
	}
}

func validApp() *App {
	return &App{
		ID: "1234567", Key: "a1b2c3d4e5f6a7b8c9d0", Secret: strings.Repeat("s", 32), Enabled: true,
		PreviousSecrets: []PreviousSecret{{Secret: strings.Repeat("p", 32), ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}},
		AllowedOrigins:  []string{"*", "https://app.example.com", "https://*.example.com", "http://localhost:3000", "http://[::1]:8080", "http://127.0.0.1"},
		Webhooks: []Webhook{{
			URL: "https://hooks.example.com/pusher", EventTypes: []string{"channel_occupied", "member_added"},
			Headers: map[string]string{"X-Token": "abc", "X-Tabbed": "a\tb"},
		}},
		MaxConnections: 10, APIRateLimit: 2.5,
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(validApp()); err != nil {
		t.Fatalf("valid app rejected: %v", err)
	}
	cases := []struct {
		name   string
		change func(a *App)
		want   string
	}{
		{"empty id", func(a *App) { a.ID = "" }, "id must not be empty"},
		{"long id", func(a *App) { a.ID = strings.Repeat("1", 65) }, "at most 64"},
		{"id with slash", func(a *App) { a.ID = "a/b" }, "may only contain"},
		{"key with space", func(a *App) { a.Key = "a b" }, "key \"a b\" may only contain"},
		{"unicode key", func(a *App) { a.Key = "kéy" }, "may only contain"},
		{"short secret", func(a *App) { a.Secret = "short" }, "secret must be at least 16"},
		{"secret with space", func(a *App) { a.Secret = strings.Repeat("s", 20) + " x" }, "printable ASCII"},
		{"short previous", func(a *App) { a.PreviousSecrets[0].Secret = "x" }, "previous_secrets[0].secret"},
		{"previous without expiry", func(a *App) { a.PreviousSecrets[0].ExpiresAt = time.Time{} }, "previous_secrets[0].expires_at"},
		{"too many previous", func(a *App) {
			for range MaxPreviousSecrets {
				a.PreviousSecrets = append(a.PreviousSecrets, a.PreviousSecrets[0])
			}
		}, "at most 5"},
		{"negative limit", func(a *App) { a.MaxBatchSize = -1 }, "max_batch_size must not be negative"},
		{"negative connections", func(a *App) { a.MaxConnections = -3 }, "max_connections"},
		{"negative rate", func(a *App) { a.APIRateLimit = -1 }, "api_rate_limit"},
		{"NaN rate", func(a *App) { a.APIRateLimit = math.NaN() }, "api_rate_limit"},
		{"origin with path", func(a *App) { a.AllowedOrigins = []string{"https://a.com/x"} }, "allowed_origins[0]"},
		{"origin without scheme", func(a *App) { a.AllowedOrigins = []string{"a.com"} }, "allowed_origins[0]"},
		{"origin ftp", func(a *App) { a.AllowedOrigins = []string{"ftp://a.com"} }, "allowed_origins[0]"},
		{"origin inner wildcard", func(a *App) { a.AllowedOrigins = []string{"https://a.*.com"} }, "allowed_origins[0]"},
		{"origin bare wildcard", func(a *App) { a.AllowedOrigins = []string{"https://*"} }, "allowed_origins[0]"},
		{"origin user info", func(a *App) { a.AllowedOrigins = []string{"https://u@a.com"} }, "allowed_origins[0]"},
		{"origin bad port", func(a *App) { a.AllowedOrigins = []string{"https://a.com:99999"} }, "allowed_origins[0]"},
		{"origin bad host", func(a *App) { a.AllowedOrigins = []string{"https://-a.com"} }, "allowed_origins[0]"},
		{"webhook ftp", func(a *App) { a.Webhooks[0].URL = "ftp://x.com" }, "webhooks[0].url"},
		{"webhook no host", func(a *App) { a.Webhooks[0].URL = "http:///x" }, "must have a host"},
		{"webhook no events", func(a *App) { a.Webhooks[0].EventTypes = nil }, "webhooks[0].event_types"},
		{"webhook unknown event", func(a *App) { a.Webhooks[0].EventTypes = []string{"nope"} }, "unknown event type"},
		{"webhook bad header", func(a *App) { a.Webhooks[0].Headers = map[string]string{"X Y": "1"} }, "not a valid header name"},
		{"webhook header injection", func(a *App) { a.Webhooks[0].Headers = map[string]string{"X": "1\r\nY: 2"} }, "line break"},
		{"webhook header control character", func(a *App) { a.Webhooks[0].Headers = map[string]string{"X": "a\x01b"} }, "control character"},
		{"origin port with letters", func(a *App) { a.AllowedOrigins = []string{"https://a.com:80x"} }, "allowed_origins[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := validApp()
			c.change(a)
			err := Validate(a)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), a.Secret) && len(a.Secret) >= MinSecretLen {
				t.Fatalf("error quotes the secret: %q", err)
			}
		})
	}

	// Every problem at once.
	err := Validate(&App{MaxConnections: -1})
	for _, want := range []string{"id must not be empty", "key must not be empty", "secret", "max_connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
	if !errors.Is(Validate(nil), ErrInvalid) {
		t.Error("nil app accepted")
	}
}

func TestClone(t *testing.T) {
	a := validApp()
	a.PreviousSecrets[0].ExpiresAt = time.Now() // monotonic reading, local zone
	c := a.Clone()
	if c.PreviousSecrets[0].ExpiresAt != a.PreviousSecrets[0].ExpiresAt.Round(0).UTC() {
		t.Error("time not normalised")
	}
	a.Webhooks[0].Headers["X-Token"] = "changed"
	a.Webhooks[0].EventTypes[0] = "changed"
	a.AllowedOrigins[0] = "changed"
	a.PreviousSecrets[0].Secret = "changed"
	if c.Webhooks[0].Headers["X-Token"] != "abc" || c.Webhooks[0].EventTypes[0] != "channel_occupied" ||
		c.AllowedOrigins[0] != "*" || c.PreviousSecrets[0].Secret == "changed" {
		t.Fatal("clone shares memory")
	}
	e := (&App{AllowedOrigins: []string{}, Webhooks: []Webhook{{Headers: map[string]string{}, EventTypes: []string{}}}}).Clone()
	if e.AllowedOrigins != nil || e.Webhooks[0].Headers != nil || e.Webhooks[0].EventTypes != nil {
		t.Fatalf("empty not nil: %+v", e)
	}
	if (*App)(nil).Clone() != nil {
		t.Fatal("nil clone")
	}
}

// fakeManager is the smallest Manager Rotate needs.
type fakeManager struct {
	mu   sync.Mutex
	apps map[string]*App
}

func (f *fakeManager) ByKey(context.Context, string) (*App, error) { return nil, ErrNotFound }
func (f *fakeManager) ByID(_ context.Context, id string) (*App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.apps[id]; ok {
		return a, nil
	}
	return nil, ErrNotFound
}
func (f *fakeManager) List(context.Context) ([]*App, error) { return nil, nil }
func (f *fakeManager) Create(context.Context, *App) error   { return nil }
func (f *fakeManager) Delete(context.Context, string) error { return nil }
func (f *fakeManager) Close() error                         { return nil }
func (f *fakeManager) Update(_ context.Context, a *App) error {
	if err := Validate(a); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.apps[a.ID]; !ok {
		return ErrNotFound
	}
	f.apps[a.ID] = a.Clone()
	return nil
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := validApp()
	a.PreviousSecrets = nil
	m := &fakeManager{apps: map[string]*App{a.ID: a.Clone()}}
	first := a.Secret

	got, err := Rotate(ctx, m, a.ID, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret == first || len(got.Secret) < 32 {
		t.Fatalf("new secret %q", got.Secret)
	}
	want := []PreviousSecret{{Secret: first, ExpiresAt: now.Add(time.Hour)}}
	if !reflect.DeepEqual(got.PreviousSecrets, want) {
		t.Fatalf("previous %+v, want %+v", got.PreviousSecrets, want)
	}
	stored, _ := m.ByID(ctx, a.ID)
	if !reflect.DeepEqual(stored, got) {
		t.Fatal("not saved")
	}
	if s := stored.Secrets(now.Add(59 * time.Minute)); len(s) != 2 || s[1] != first {
		t.Fatalf("old secret not valid during grace: %d secrets", len(s))
	}
	if s := stored.Secrets(now.Add(time.Hour)); len(s) != 1 {
		t.Fatal("old secret valid after grace")
	}
	// Other fields survive.
	if stored.MaxConnections != 10 || len(stored.Webhooks) != 1 || stored.Key != a.Key {
		t.Fatalf("fields lost: %+v", stored)
	}

	// Grace 0: the old secret stops at once and is not kept; earlier ones stay.
	second := got.Secret
	got, err = Rotate(ctx, m, a.ID, 0, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.PreviousSecrets) != 1 || got.PreviousSecrets[0].Secret != first {
		t.Fatalf("grace 0 kept %+v", got.PreviousSecrets)
	}
	for _, p := range got.PreviousSecrets {
		if p.Secret == second {
			t.Fatal("grace-0 secret kept")
		}
	}

	// Expired previous secrets are dropped.
	got, err = Rotate(ctx, m, a.ID, time.Minute, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.PreviousSecrets) != 1 || got.PreviousSecrets[0].ExpiresAt != now.Add(2*time.Hour+time.Minute) {
		t.Fatalf("expired not dropped: %+v", got.PreviousSecrets)
	}

	// At most MaxPreviousSecrets, newest first, oldest dropped.
	var secrets []string
	for i := range 8 {
		before, _ := m.ByID(ctx, a.ID)
		secrets = append(secrets, before.Secret)
		if got, err = Rotate(ctx, m, a.ID, 24*time.Hour, now.Add(3*time.Hour+time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got.PreviousSecrets) != MaxPreviousSecrets {
		t.Fatalf("%d previous secrets", len(got.PreviousSecrets))
	}
	for i, p := range got.PreviousSecrets {
		if want := secrets[len(secrets)-1-i]; p.Secret != want {
			t.Fatalf("previous[%d] is not the %d-th newest", i, i)
		}
	}

	// Bounds.
	for _, g := range []time.Duration{-time.Second, MaxRotationGrace + time.Second} {
		before, _ := m.ByID(ctx, a.ID)
		if _, err := Rotate(ctx, m, a.ID, g, now); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "grace") {
			t.Fatalf("grace %v: %v", g, err)
		}
		if after, _ := m.ByID(ctx, a.ID); after != before {
			t.Fatal("rejected rotation changed the app")
		}
	}
	if _, err := Rotate(ctx, m, a.ID, MaxRotationGrace, now); err != nil {
		t.Fatalf("max grace: %v", err)
	}
	if _, err := Rotate(ctx, m, "missing", time.Hour, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing app: %v", err)
	}
}
