package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/instance/stored/storedtest"
)

// beamsCLI runs `herald beams <args> --data-dir dir`.
func beamsCLI(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return cli(t, nil, nil, append(append([]string{"beams"}, args...), "--data-dir", dir)...)
}

func decodeBeams(t *testing.T, r result) admin.BeamsInstance {
	t.Helper()
	var in admin.BeamsInstance
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Errorf("--json printed more than one line:\n%s", r.stdout)
	}
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
		t.Fatalf("stdout is not an instance: %v\n%s", err, r.stdout)
	}
	return in
}

var reBeamsID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestBeamsLifecycle(t *testing.T) {
	dir := t.TempDir()
	acct := write(t, "account.json", storedtest.ServiceAccount())
	p8 := write(t, "AuthKey.p8", storedtest.APNsKey())
	const shop = "5a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"

	r := beamsCLI(t, dir, "create", "--json", "--id", strings.ToUpper(shop), "--vapid-subject", "mailto:ops@shop.example.com",
		"--fcm-service-account", acct, "--apns-key", p8, "--apns-key-id", "KEY1234567", "--apns-team-id", "TEAM123456",
		"--apns-topic", "com.shop.app", "--apns-production")
	wantCode(t, r, exitOK)
	created := decodeBeams(t, r)
	if created.ID != shop || !hex64.MatchString(created.SecretKey) || created.VAPIDSubject != "mailto:ops@shop.example.com" ||
		created.FCM == nil || created.FCM.ProjectID != "herald-test" || created.APNs == nil || !created.APNs.Production ||
		created.APNs.Topic != "com.shop.app" {
		t.Fatalf("created %+v", created)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps.db")); err != nil {
		t.Errorf("the store is not in the data dir: %v", err)
	}
	// The credentials are kept by content: the files may go.
	os.Remove(acct)
	os.Remove(p8)

	// Generated; text output prints the key once, with the SDK settings.
	r = beamsCLI(t, dir, "create")
	wantCode(t, r, exitOK)
	m := regexp.MustCompile(`(?m)^secret_key:\s+([0-9a-f]{64})$`).FindStringSubmatch(r.stdout)
	idm := regexp.MustCompile(`(?m)^id:\s+(\S+)$`).FindStringSubmatch(r.stdout)
	if m == nil || idm == nil || !reBeamsID.MatchString(idm[1]) || !strings.HasPrefix(r.stdout, "created beams instance "+idm[1]+"\n") {
		t.Fatalf("create output:\n%s", r.stdout)
	}
	for _, want := range []string{`require("@pusher/push-notifications-server")`, `instanceId: "` + idm[1] + `"`,
		`secretKey: "` + m[1] + `"`, `endpoint: "localhost"`, "port: 6001", "plain HTTP", "fcm:", "none"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create output lacks %q:\n%s", want, r.stdout)
		}
	}
	gen, secrets := idm[1], []string{created.SecretKey, m[1]}

	r = beamsCLI(t, dir, "list")
	wantCode(t, r, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(r.stdout, gen) ||
		!regexp.MustCompile(`(?m)^`+shop+`\s+herald-test\s+com\.shop\.app \(production\)\s+\d{4}-`).MatchString(r.stdout) {
		t.Errorf("list:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, secrets...)
	r = beamsCLI(t, dir, "list", "--json")
	wantCode(t, r, exitOK)
	var list admin.BeamsInstanceList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Instances) != 2 || strings.Contains(r.stdout, `"secret_key"`) {
		t.Errorf("list --json (%v):\n%s", err, r.stdout)
	}

	r = beamsCLI(t, dir, "show", shop)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "(hidden") || !strings.Contains(r.stdout, "topic com.shop.app, key KEY1234567, team TEAM123456, production") {
		t.Errorf("show:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, secrets...)
	if in := decodeBeams(t, beamsCLI(t, dir, "show", shop, "--json")); in.SecretKey != "" || in.ID != shop {
		t.Errorf("show --json: %+v", in)
	}
	wantCode(t, beamsCLI(t, dir, "show", strings.ToUpper(shop)), exitOK) // UUIDs in any case
	r = beamsCLI(t, dir, "show", shop, "--show-secret")
	if !regexp.MustCompile(`(?m)^secret_key:\s+` + created.SecretKey + `$`).MatchString(r.stdout) {
		t.Errorf("show --show-secret:\n%s", r.stdout)
	}
	if in := decodeBeams(t, beamsCLI(t, dir, "show", shop, "--show-secret", "--json")); in.SecretKey != created.SecretKey {
		t.Errorf("show --show-secret --json: %q", in.SecretKey)
	}

	before := time.Now()
	r = beamsCLI(t, dir, "rotate-key", shop, "--grace", "2h", "--json")
	wantCode(t, r, exitOK)
	rot := decodeBeams(t, r)
	if !hex64.MatchString(rot.SecretKey) || rot.SecretKey == created.SecretKey || len(rot.PreviousKeys) != 1 || rot.Version != 2 {
		t.Fatalf("rotated %+v", rot)
	}
	if exp := rot.PreviousKeys[0].ExpiresAt; exp.Before(before.Add(2*time.Hour-time.Second)) || exp.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("previous key expires %v, want about 2h from now", exp)
	}
	noSecret(t, r.stdout, created.SecretKey)
	r = beamsCLI(t, dir, "rotate-key", shop) // text, default grace
	wantCode(t, r, exitOK)
	if !regexp.MustCompile(`^new secret key of beams instance `+shop+`: [0-9a-f]{64}\n`).MatchString(r.stdout) ||
		strings.Count(r.stdout, "stays valid until") != 2 {
		t.Errorf("rotate-key:\n%s", r.stdout)
	}
	noSecret(t, r.stdout, created.SecretKey, rot.SecretKey)
	before = time.Now()
	rot = decodeBeams(t, beamsCLI(t, dir, "rotate-key", shop, "--grace", "7d", "--json"))
	found := false
	for _, p := range rot.PreviousKeys {
		found = found || !p.ExpiresAt.Before(before.Add(7*24*time.Hour-time.Second)) && !p.ExpiresAt.After(time.Now().Add(7*24*time.Hour))
	}
	if !found {
		t.Errorf("--grace 7d: previous keys %+v, want one expiring in 7 days", rot.PreviousKeys)
	}

	// A device of the instance goes with it.
	ctx := context.Background()
	st, err := sqldevices.Open(ctx, "sqlite:"+filepath.Join(dir, "apps.db"), sqldevices.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dev, _, _, err := st.Register(ctx, devices.Device{Instance: shop, Platform: devices.FCM, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}

	r = beamsCLI(t, dir, "delete", shop)
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("delete without --yes: %q", r.stderr)
	}
	wantCode(t, beamsCLI(t, dir, "show", shop), exitOK)
	r = beamsCLI(t, dir, "delete", shop, "--yes", "--json")
	wantCode(t, r, exitOK)
	if strings.TrimSpace(r.stdout) != `{"id":"`+shop+`","deleted":true}` {
		t.Errorf("delete --json: %q", r.stdout)
	}
	if _, err := st.Get(ctx, shop, dev.ID); err == nil {
		t.Error("the deleted instance's device is still stored")
	}
	r = beamsCLI(t, dir, "show", shop)
	wantCode(t, r, exitFailure)
	if r.stderr != `herald: beams show: beams instance "`+shop+`" not found`+"\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	r = beamsCLI(t, dir, "delete", gen, "--yes")
	wantCode(t, r, exitOK)
	if r.stdout != "beams instance "+gen+" deleted, with its devices\n" {
		t.Errorf("delete: %q", r.stdout)
	}
}

func TestBeamsBadInput(t *testing.T) {
	dir := t.TempDir()
	const a = "aaaaaaaa-0000-4000-8000-000000000001"
	wantCode(t, beamsCLI(t, dir, "create", "--id", a), exitOK)
	p8 := write(t, "AuthKey.p8", storedtest.APNsKey())
	notJSON := write(t, "account.json", "not json at all")
	big := write(t, "big.json", strings.Repeat(" ", 20<<10))
	missing := filepath.Join(t.TempDir(), "nope.json")

	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"duplicate id", []string{"create", "--id", a}, exitFailure, "beams create: beams instance " + a + " already exists"},
		{"bad id", []string{"create", "--id", "instance-1"}, exitUsage, `beams create: --id: "instance-1" is not a UUID`},
		{"subject", []string{"create", "--vapid-subject", "ops@example.com"}, exitUsage, "--vapid-subject: \"ops@example.com\" must start with mailto: or https://"},
		{"fcm not JSON", []string{"create", "--fcm-service-account", notJSON}, exitUsage, "--fcm-service-account " + notJSON + ": not valid JSON"},
		{"fcm missing file", []string{"create", "--fcm-service-account", missing}, exitUsage, "--fcm-service-account: open " + missing},
		{"fcm too big", []string{"create", "--fcm-service-account", big}, exitUsage, "larger than"},
		{"apns not p8", []string{"create", "--apns-key", notJSON, "--apns-key-id", "KEY1234567", "--apns-team-id", "TEAM123456", "--apns-topic", "t"}, exitUsage, "--apns-key " + notJSON + ": the .p8 key is not PEM"},
		{"apns ids", []string{"create", "--apns-key", p8, "--apns-key-id", "short", "--apns-topic", "t"}, exitUsage, `--apns-key-id: "short" must be Apple's 10-character id (A-Z, 0-9); --apns-team-id: "" must be`},
		{"apns topic", []string{"create", "--apns-key", p8, "--apns-key-id", "KEY1234567", "--apns-team-id", "TEAM123456"}, exitUsage, "--apns-topic: must be set"},
		{"apns without key", []string{"create", "--apns-topic", "com.x"}, exitUsage, "need --apns-key"},
		{"grace too long", []string{"rotate-key", a, "--grace", "1000h"}, exitUsage, "--grace: rotation grace"},
		{"negative grace", []string{"rotate-key", a, "--grace", "-1h"}, exitUsage, "--grace: rotation grace"},
		{"grace not a duration", []string{"rotate-key", a, "--grace", "soon"}, exitUsage, "invalid argument"},
		{"grace in days too long", []string{"rotate-key", a, "--grace", "31d"}, exitUsage, "--grace: rotation grace"},
		{"show missing", []string{"show", "zz"}, exitFailure, `beams show: beams instance "zz" not found`},
		{"delete missing", []string{"delete", "zz", "--yes"}, exitFailure, `beams delete: beams instance "zz" not found`},
		{"rotate missing", []string{"rotate-key", "zz"}, exitFailure, `beams rotate-key: beams instance "zz" not found`},
		{"show without id", []string{"show"}, exitUsage, "takes the instance ID"},
		{"two ids", []string{"delete", a, "b", "--yes"}, exitUsage, "takes the instance ID"},
		{"unknown subcommand", []string{"frobnicate"}, exitUsage, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := beamsCLI(t, dir, c.args...)
			wantCode(t, r, c.code)
			if !strings.Contains(r.stderr, c.msg) || !strings.HasPrefix(r.stderr, "herald: ") {
				t.Errorf("stderr %q, want %q", r.stderr, c.msg)
			}
			if c.code == exitFailure && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("not one line: %q", r.stderr)
			}
			if strings.Contains(r.stderr, storedtest.APNsKey()[40:80]) {
				t.Errorf("an error quotes the key: %q", r.stderr)
			}
		})
	}
	r := beamsCLI(t, dir, "list", "--json")
	var list admin.BeamsInstanceList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Instances) != 1 || list.Instances[0].Version != 1 {
		t.Errorf("bad input changed the store (%v): %s", err, r.stdout)
	}
}

// The config file's instances win: their ids cannot be created or deleted
// in the store; the store is found as for apps; the snippet follows the
// config's host, port and TLS.
func TestBeamsConfigAndLocation(t *testing.T) {
	const cfgID = "c0ffee00-0000-4000-8000-00000000c0de"
	dataDir := filepath.Join(t.TempDir(), "data")
	conf := write(t, "herald.yaml", "data_dir: "+dataDir+"\nhost: push.example.com\nport: 7000\n"+
		"tls: {cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}\n"+
		"beams:\n  instances:\n    - id: "+strings.ToUpper(cfgID)+"\n      secret_key: config-secret\n")
	r := cli(t, nil, nil, "beams", "create", "--config", conf, "--id", cfgID)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "defined in the config file") {
		t.Errorf("stderr %q", r.stderr)
	}
	r = cli(t, nil, nil, "beams", "delete", "--config", conf, cfgID, "--yes")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "remove it from the config first") {
		t.Errorf("stderr %q", r.stderr)
	}
	// The embedded default instance of the data dir is protected the same way.
	const defID = "d0d0d0d0-0000-4000-8000-00000000d0d0"
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "default-beams.json"), []byte(`{"instance_id":"`+defID+`","secret_key":"s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCode(t, cli(t, nil, nil, "beams", "create", "--config", conf, "--id", defID), exitFailure)
	r = cli(t, nil, nil, "beams", "create", "--config", conf)
	wantCode(t, r, exitOK)
	for _, want := range []string{`endpoint: "push.example.com"`, "port: 7000", "serves TLS on port 7000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("snippet lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "apps.db")); err != nil {
		t.Errorf("data_dir of the config file not used: %v", err)
	}

	// HERALD_DATA_DIR, and --database-url / HERALD_DATABASE_URL beat it.
	envDir := t.TempDir()
	wantCode(t, cli(t, map[string]string{"HERALD_DATA_DIR": envDir}, nil, "beams", "create"), exitOK)
	if _, err := os.Stat(filepath.Join(envDir, "apps.db")); err != nil {
		t.Error(err)
	}
	db := filepath.Join(t.TempDir(), "other.db")
	wantCode(t, cli(t, nil, nil, "beams", "create", "--database-url", "sqlite:"+db), exitOK)
	r = cli(t, map[string]string{"HERALD_DATABASE_URL": "sqlite:" + db, "HERALD_DATA_DIR": envDir}, nil, "beams", "list", "--json")
	wantCode(t, r, exitOK)
	if n := strings.Count(r.stdout, `"id"`); n != 1 {
		t.Errorf("HERALD_DATABASE_URL store lists %d instances:\n%s", n, r.stdout)
	}

	// A stored instance hidden by a config one is flagged by list.
	if _, err := openStoreAt(t, db).CreateInstance(context.Background(), storedtest.Record(cfgID)); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, nil, "beams", "list", "--config", conf, "--database-url", "sqlite:"+db)
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stderr, "also in the config file") {
		t.Errorf("list does not flag the hidden instance: %q", r.stderr)
	}

	wantCode(t, cli(t, nil, nil, "beams", "list", "--database-url", "mysql://x"), exitFailure)
	r = cli(t, nil, nil, "beams", "list", "--config", write(t, "bad.yaml", "prot: 1\n"))
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, `unknown key "prot"`) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func openStoreAt(t *testing.T, path string) *sqldevices.Store {
	t.Helper()
	st, err := sqldevices.Open(context.Background(), "sqlite:"+path, sqldevices.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
