package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/config"
)

// appsCLI runs `herald apps <args> --data-dir dir`.
func appsCLI(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return cli(t, nil, nil, append(append([]string{"apps"}, args...), "--data-dir", dir)...)
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

func decodeApp(t *testing.T, r result) admin.App {
	t.Helper()
	var a admin.App
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Errorf("--json printed more than one line:\n%s", r.stdout)
	}
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("stdout is not an app: %v\n%s", err, r.stdout)
	}
	return a
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestAppsLifecycle(t *testing.T) {
	dir := t.TempDir()

	r := appsCLI(t, dir, "create", "--json", "--id", "shop", "--key", "shop-key", "--enable-client-messages",
		"--max-connections", "100", "--allowed-origin", "https://a.example.com", "--allowed-origin", "https://*.b.example.com",
		"--webhook-url", "https://hooks.example.com/x", "--webhook-event", "channel_occupied", "--webhook-event", "member_added",
		"--webhook-header", "X-Env: prod", "--webhook-channel-prefix", "presence-")
	wantCode(t, r, exitOK)
	shop := decodeApp(t, r)
	if shop.ID != "shop" || shop.Key != "shop-key" || !hex64.MatchString(shop.Secret) || !shop.Enabled ||
		!shop.EnableClientMessages || shop.MaxConnections != 100 || len(shop.AllowedOrigins) != 2 || len(shop.Webhooks) != 1 {
		t.Fatalf("created %+v", shop)
	}
	if w := shop.Webhooks[0]; len(w.EventTypes) != 2 || w.Headers["X-Env"] != "prod" || w.Filter.ChannelNameStartsWith != "presence-" {
		t.Errorf("webhook %+v", w)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps.db")); err != nil {
		t.Errorf("the store is not in the data dir: %v", err)
	}

	// Everything generated; text output prints the secret once.
	r = appsCLI(t, dir, "create")
	wantCode(t, r, exitOK)
	m := regexp.MustCompile(`(?m)^secret:\s+([0-9a-f]{64})$`).FindStringSubmatch(r.stdout)
	if m == nil || !regexp.MustCompile(`(?m)^id:\s+\d{7}$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^key:\s+[0-9a-f]{20}$`).MatchString(r.stdout) {
		t.Fatalf("create output:\n%s", r.stdout)
	}
	secrets := []string{shop.Secret, m[1]}

	r = appsCLI(t, dir, "list")
	wantCode(t, r, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "MAX CONNECTIONS") ||
		!regexp.MustCompile(`^shop\s+shop-key\s+yes\s+yes\s+100$`).MatchString(lines[2]) {
		t.Errorf("list:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, secrets...)
	r = appsCLI(t, dir, "list", "--json")
	wantCode(t, r, exitOK)
	var list admin.AppList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Apps) != 2 || strings.Contains(r.stdout, `"secret"`) {
		t.Errorf("list --json (%v):\n%s", err, r.stdout)
	}

	r = appsCLI(t, dir, "show", "shop")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "(hidden") || !strings.Contains(r.stdout, "https://*.b.example.com") {
		t.Errorf("show:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, secrets...)
	r = appsCLI(t, dir, "show", "shop", "--json")
	wantCode(t, r, exitOK)
	if a := decodeApp(t, r); a.Secret != "" || a.Key != "shop-key" {
		t.Errorf("show --json: %+v", a)
	}
	r = appsCLI(t, dir, "show", "shop", "--show-secret")
	wantCode(t, r, exitOK)
	if !regexp.MustCompile(`(?m)^secret:\s+` + shop.Secret + `$`).MatchString(r.stdout) {
		t.Errorf("show --show-secret:\n%s", r.stdout)
	}
	r = appsCLI(t, dir, "show", "shop", "--show-secret", "--json")
	if a := decodeApp(t, r); a.Secret != shop.Secret {
		t.Errorf("show --show-secret --json: secret %q", a.Secret)
	}

	r = appsCLI(t, dir, "update", "shop", "--json", "--require-signin", "--max-connections", "5", "--clear-allowed-origins",
		"--max-event-payload-kb", "32", "--api-rate-limit", "2.5", "--key", "shop-key-2")
	wantCode(t, r, exitOK)
	upd := decodeApp(t, r)
	if !upd.RequireSignin || upd.MaxConnections != 5 || len(upd.AllowedOrigins) != 0 || upd.MaxEventPayloadKB != 32 ||
		upd.APIRateLimit != 2.5 || upd.Key != "shop-key-2" || upd.Secret != "" ||
		!upd.EnableClientMessages || len(upd.Webhooks) != 1 { // untouched settings stay
		t.Errorf("updated %+v", upd)
	}
	r = appsCLI(t, dir, "update", "shop", "--clear-webhooks")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "updated app shop") || !strings.Contains(r.stdout, "webhooks:") {
		t.Errorf("update:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, secrets...)

	r = appsCLI(t, dir, "disable", "shop")
	wantCode(t, r, exitOK)
	if strings.TrimSpace(r.stdout) != "app shop disabled" {
		t.Errorf("disable: %q", r.stdout)
	}
	if a := decodeApp(t, appsCLI(t, dir, "show", "shop", "--json")); a.Enabled {
		t.Error("still enabled")
	}
	r = appsCLI(t, dir, "enable", "shop", "--json")
	wantCode(t, r, exitOK)
	if a := decodeApp(t, r); !a.Enabled {
		t.Error("enable --json: not enabled")
	}

	before := time.Now()
	r = appsCLI(t, dir, "rotate-secret", "shop", "--grace", "2h", "--json")
	wantCode(t, r, exitOK)
	rot := decodeApp(t, r)
	if rot.ID != "shop" || rot.Key != "shop-key-2" || !hex64.MatchString(rot.Secret) || rot.Secret == shop.Secret {
		t.Fatalf("rotated %+v", rot)
	}
	if len(rot.PreviousSecrets) != 1 {
		t.Fatalf("previous secrets %+v", rot.PreviousSecrets)
	}
	if exp := rot.PreviousSecrets[0].ExpiresAt; exp.Before(before.Add(2*time.Hour-time.Second)) || exp.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("previous secret expires %v, want about 2h from now", exp)
	}
	noSecret(t, r.stdout, shop.Secret)
	if a := decodeApp(t, appsCLI(t, dir, "show", "shop", "--json", "--show-secret")); a.Secret != rot.Secret || len(a.PreviousSecrets) != 1 {
		t.Errorf("after rotation the store has %+v", a)
	}
	r = appsCLI(t, dir, "rotate-secret", "shop") // text, default grace
	wantCode(t, r, exitOK)
	if !regexp.MustCompile(`^new secret of app shop: [0-9a-f]{64}\n`).MatchString(r.stdout) || strings.Count(r.stdout, "stays valid until") != 2 {
		t.Errorf("rotate-secret:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, shop.Secret, rot.Secret)
	// --grace takes the forms of every duration of the config: days, seconds.
	for _, g := range []struct {
		flag string
		want time.Duration
	}{{"7d", 7 * 24 * time.Hour}, {"3600", time.Hour}} {
		before = time.Now()
		rot = decodeApp(t, appsCLI(t, dir, "rotate-secret", "shop", "--grace", g.flag, "--json"))
		found := false
		for _, p := range rot.PreviousSecrets {
			found = found || !p.ExpiresAt.Before(before.Add(g.want-time.Second)) && !p.ExpiresAt.After(time.Now().Add(g.want))
		}
		if !found {
			t.Errorf("--grace %s: previous secrets %+v, want one expiring %v from now", g.flag, rot.PreviousSecrets, g.want)
		}
	}

	r = appsCLI(t, dir, "delete", "shop")
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("delete without --yes: %q", r.stderr)
	}
	wantCode(t, appsCLI(t, dir, "show", "shop"), exitOK)
	r = appsCLI(t, dir, "delete", "shop", "--yes", "--json")
	wantCode(t, r, exitOK)
	if strings.TrimSpace(r.stdout) != `{"id":"shop","deleted":true}` {
		t.Errorf("delete --json: %q", r.stdout)
	}
	r = appsCLI(t, dir, "show", "shop")
	wantCode(t, r, exitFailure)
	if r.stderr != "herald: apps show: app \"shop\" not found\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	if r := appsCLI(t, dir, "list", "--json"); strings.Count(r.stdout, `"id"`) != 1 {
		t.Errorf("after delete: %s", r.stdout)
	}
}

func TestAppsBadInput(t *testing.T) {
	dir := t.TempDir()
	wantCode(t, appsCLI(t, dir, "create", "--id", "a", "--key", "k"), exitOK)
	wantCode(t, appsCLI(t, dir, "create", "--id", "b", "--key", "kb"), exitOK)

	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"duplicate id", []string{"create", "--id", "a"}, exitFailure, `apps create: app id "a" already exists`},
		{"duplicate key", []string{"create", "--key", "k"}, exitFailure, `apps create: app key "k" already exists`},
		{"key taken", []string{"update", "b", "--key", "k"}, exitFailure, `apps update: app key "k" already exists`},
		{"bad id", []string{"create", "--id", "a b"}, exitUsage, "id \"a b\" may only contain"},
		{"bad key", []string{"create", "--key", "k/1"}, exitUsage, "key \"k/1\" may only contain"},
		{"empty key", []string{"create", "--key", ""}, exitUsage, "key must not be empty"},
		{"bad origin", []string{"create", "--allowed-origin", "example.com"}, exitUsage, "allowed_origins[0]"},
		{"bad webhook", []string{"create", "--webhook-url", "ftp://x", "--webhook-event", "member_added"}, exitUsage, "webhooks[0].url"},
		{"no webhook events", []string{"create", "--webhook-url", "https://x.example.com"}, exitUsage, "event_types"},
		{"unknown event", []string{"create", "--webhook-url", "https://x.example.com", "--webhook-event", "boom"}, exitUsage, `"boom"`},
		{"event without url", []string{"update", "a", "--webhook-event", "member_added"}, exitUsage, "need --webhook-url"},
		{"bad header", []string{"create", "--webhook-url", "https://x.example.com", "--webhook-event", "member_added", "--webhook-header", "nocolon"}, exitUsage, "Name: value"},
		{"clear and set", []string{"update", "a", "--clear-allowed-origins", "--allowed-origin", "https://x.example.com"}, exitUsage, "exclude"},
		{"negative", []string{"update", "a", "--max-connections", "-1"}, exitUsage, "max_connections must not be negative"},
		{"not a number", []string{"update", "a", "--max-connections", "many"}, exitUsage, "invalid argument"},
		{"nothing to update", []string{"update", "a"}, exitUsage, "nothing to change"},
		{"grace too long", []string{"rotate-secret", "a", "--grace", "1000h"}, exitUsage, "rotation grace"},
		{"negative grace", []string{"rotate-secret", "a", "--grace", "-1h"}, exitUsage, "rotation grace"},
		{"grace not a duration", []string{"rotate-secret", "a", "--grace", "soon"}, exitUsage, "invalid argument"},
		{"grace in days too long", []string{"rotate-secret", "a", "--grace", "90d"}, exitUsage, "rotation grace"},
		{"show missing", []string{"show", "zz"}, exitFailure, `apps show: app "zz" not found`},
		{"update missing", []string{"update", "zz", "--max-connections", "1"}, exitFailure, `app "zz" not found`},
		{"enable missing", []string{"enable", "zz"}, exitFailure, `apps enable: app "zz" not found`},
		{"disable missing", []string{"disable", "zz"}, exitFailure, `apps disable: app "zz" not found`},
		{"delete missing", []string{"delete", "zz", "--yes"}, exitFailure, `apps delete: app "zz" not found`},
		{"rotate missing", []string{"rotate-secret", "zz"}, exitFailure, `apps rotate-secret: app "zz" not found`},
		{"show without id", []string{"show"}, exitUsage, "takes the app ID"},
		{"two ids", []string{"delete", "a", "b", "--yes"}, exitUsage, "takes the app ID"},
		{"id flag on update", []string{"update", "a", "--id", "z"}, exitUsage, "unknown flag: --id"},
		{"unknown subcommand", []string{"frobnicate"}, exitUsage, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := appsCLI(t, dir, c.args...)
			wantCode(t, r, c.code)
			if !strings.Contains(r.stderr, c.msg) || !strings.HasPrefix(r.stderr, "herald: ") {
				t.Errorf("stderr %q, want %q", r.stderr, c.msg)
			}
			if c.code == exitFailure && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("not one line: %q", r.stderr)
			}
		})
	}
	r := appsCLI(t, dir, "list", "--json")
	var list admin.AppList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Apps) != 2 || list.Apps[0].MaxConnections != 0 || list.Apps[1].Key != "kb" {
		t.Errorf("bad input changed the store (%v): %s", err, r.stdout)
	}
}

func TestAppsStoreLocation(t *testing.T) {
	// HERALD_DATA_DIR, as for serve.
	dir := t.TempDir()
	r := cli(t, map[string]string{"HERALD_DATA_DIR": dir}, nil, "apps", "create", "--id", "env")
	wantCode(t, r, exitOK)
	if _, err := os.Stat(filepath.Join(dir, "apps.db")); err != nil {
		t.Error(err)
	}

	// data_dir from the config file.
	cfgDir := filepath.Join(t.TempDir(), "data")
	conf := write(t, "herald.yaml", "data_dir: "+cfgDir+"\n")
	wantCode(t, cli(t, nil, nil, "apps", "create", "--config", conf, "--id", "conf"), exitOK)
	if _, err := os.Stat(filepath.Join(cfgDir, "apps.db")); err != nil {
		t.Error(err)
	}
	// --data-dir beats the file.
	wantCode(t, cli(t, nil, nil, "apps", "show", "--config", conf, "--data-dir", dir, "env"), exitOK)

	// --database-url and HERALD_DATABASE_URL beat the data dir.
	db := filepath.Join(t.TempDir(), "other.db")
	wantCode(t, cli(t, nil, nil, "apps", "create", "--database-url", "sqlite:"+db, "--id", "url"), exitOK)
	r = cli(t, map[string]string{config.EnvDatabaseURL: "sqlite:" + db, "HERALD_DATA_DIR": dir}, nil, "apps", "list")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "url") || strings.Contains(r.stdout, "env") {
		t.Errorf("list:\n%s", r.stdout)
	}

	// database_url in the config file, as serve reads it, beats data_dir.
	fileDB := filepath.Join(t.TempDir(), "file.db")
	dbConf := write(t, "db.yaml", "database_url: sqlite:"+fileDB+"\ndata_dir: "+cfgDir+"\n")
	wantCode(t, cli(t, nil, nil, "apps", "create", "--config", dbConf, "--id", "fromfile"), exitOK)
	r = cli(t, nil, nil, "apps", "list", "--database-url", "sqlite:"+fileDB)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "fromfile") {
		t.Errorf("database_url from the file was not used:\n%s", r.stdout)
	}
	r = cli(t, nil, nil, "apps", "list", "--data-dir", cfgDir)
	if strings.Contains(r.stdout, "fromfile") {
		t.Errorf("the app went to the data dir store:\n%s", r.stdout)
	}

	// A DSN that cannot be opened, or a config that does not load.
	wantCode(t, cli(t, nil, nil, "apps", "list", "--database-url", "mysql://x"), exitFailure)
	r = cli(t, nil, nil, "apps", "list", "--config", write(t, "bad.yaml", "prot: 1\n"))
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, `unknown key "prot"`) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func noSecret(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret %.6s... printed:\n%s", s, out)
		}
	}
}
