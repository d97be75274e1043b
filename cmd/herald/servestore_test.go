package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// A data dir whose app store already holds an app: serve serves that app,
// creates no default-app.json (at start or on SIGHUP), and its banner
// names the stored app and gives the snippet for it, never a secret.
func TestServeStoredAppsNoDefaultApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	created := cli(t, nil, nil, "apps", "create", "--json", "--data-dir", dir, "--id", "4242", "--key", "stored-key-0001")
	wantCode(t, created, exitOK)
	secret := decodeApp(t, created).Secret
	if secret == "" {
		t.Fatalf("no secret in %s", created.stdout)
	}
	defaultApp := filepath.Join(dir, config.DefaultAppFile)

	r := cli(t, nil, nil, "serve", "--data-dir", dir)
	wantCode(t, r, exitOK)
	if _, err := os.Stat(defaultApp); !os.IsNotExist(err) {
		t.Fatalf("default-app.json written (stat: %v)", err)
	}
	// The configuration still is the embedded default (admin listener,
	// Beams), through an unsaved generated app the server leaves out.
	if len(r.cfg.Apps) != 1 || !r.cfg.Apps[0].Generated || r.cfg.Apps[0].StoredIn != "" {
		t.Fatalf("apps %+v", r.cfg.Apps)
	}
	if _, err := r.opts.LoadConfig(); err != nil { // SIGHUP
		t.Fatal(err)
	}
	if _, err := os.Stat(defaultApp); !os.IsNotExist(err) {
		t.Fatalf("default-app.json written on reload (stat: %v)", err)
	}

	// The real server's banner.
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := deps{
		env: func(string) (string, bool) { return "", false },
		run: func(ctx context.Context, cfg config.Config, opts server.Options) error {
			opts.OnListen = func(net.Addr) { cancel() } // the banner is out: stop
			return server.Run(ctx, cfg, opts)
		},
		stdout: &out, stderr: io.Discard,
	}
	if code := execute(ctx, []string{"serve", "--data-dir", dir, "--host", "127.0.0.1", "--port", "0", "--admin-listen", "off"}, d); code != exitOK {
		t.Fatalf("serve: exit %d\n%s", code, out.String())
	}
	banner := out.String()
	for _, want := range []string{
		"Apps: 1 from the app store (herald apps list --data-dir " + dir,
		"app_id 4242         key stored-key-0001",
		"new Pusher('stored-key-0001', {",
		"appId: '4242',",
		"secret: process.env.PUSHER_APP_SECRET,",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	for _, bad := range []string{secret, "Default app", "No apps configured"} {
		if strings.Contains(banner, bad) {
			t.Errorf("banner contains %q:\n%s", bad, banner)
		}
	}
	if _, err := os.Stat(defaultApp); !os.IsNotExist(err) {
		t.Fatalf("default-app.json written by the server (stat: %v)", err)
	}
}
