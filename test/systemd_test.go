package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// deploy/systemd/herald.service (deploy/systemd/README.md), checked with
// systemd-analyze verify where it is installed.
const unitFile = "../deploy/systemd/herald.service"

// verifyUnit runs systemd-analyze verify on unit (the file's contents) saved
// as herald.service in a temporary directory, and returns the lines of its
// output about that unit. It skips the test when systemd-analyze is missing.
//
// ExecStart's binary is replaced by true(1): verify refuses a unit whose
// command is not an executable file, and /usr/local/bin/herald exists only
// once installed. Building herald for this would check nothing more about
// the unit. verify exits 0 on unknown keys and bad values (systemd ignores
// them with a warning), so the output, not the exit status, is what counts.
func verifyUnit(t *testing.T, unit string) []string {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not on PATH (Debian package systemd): the unit's directives are not checked")
	}
	stand, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) on PATH to stand in for herald in ExecStart")
	}
	const exe = "ExecStart=/usr/local/bin/herald "
	if !strings.Contains(unit, "\n"+exe) {
		t.Fatalf("%s: no line starting %q", unitFile, exe)
	}
	unit = strings.Replace(unit, "\n"+exe, "\nExecStart="+stand+" ", 1)
	path := filepath.Join(t.TempDir(), "herald.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", "--man=no", path).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("systemd-analyze verify: %v; output:\n%s", ctx.Err(), out)
	}
	var about []string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "herald.service") {
			about = append(about, line)
		} else if line != "" {
			t.Logf("systemd-analyze (other units): %s", line)
		}
	}
	if err != nil && len(about) == 0 {
		t.Fatalf("systemd-analyze verify: %v; output:\n%s", err, out)
	}
	return about
}

func readUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSystemdUnitVerifies fails on any complaint systemd-analyze has about
// the unit: unknown section or key, a value it cannot parse, a missing
// command.
func TestSystemdUnitVerifies(t *testing.T) {
	unit := readUnit(t)
	if about := verifyUnit(t, unit); len(about) > 0 {
		t.Errorf("systemd-analyze verify %s:\n%s", unitFile, strings.Join(about, "\n"))
	}
	// The check itself: this systemd-analyze reports a misspelt key and a
	// bad value (otherwise the test above proves nothing).
	bad := strings.Replace(unit, "\nProtectSystem=strict\n", "\nProtectSystem=strikt\nProtectSystemm=strict\n", 1)
	if about := verifyUnit(t, bad); len(about) < 2 {
		t.Errorf("a misspelt key and a bad value gave %q; want a line for each", about)
	}
}

// TestSystemdUnitSettings checks the values the unit's comments rely on
// against the code: the stop timeout exceeds the default shutdown_timeout,
// and the server is given its config file and the state directory.
func TestSystemdUnitSettings(t *testing.T) {
	settings := map[string][]string{}
	for line := range strings.Lines(readUnit(t)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	one := func(key string) string {
		t.Helper()
		if len(settings[key]) != 1 {
			t.Fatalf("%s: %s set %d times, want once", unitFile, key, len(settings[key]))
		}
		return settings[key][0]
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v (write it as Go and systemd both read it, e.g. 15s)", err)
	}
	if shutdown := time.Duration(config.DefaultShutdownTimeout); stop < shutdown+3*time.Second {
		t.Errorf("TimeoutStopSec=%s leaves under 3s above the default shutdown_timeout %s", stop, shutdown)
	}
	if got, want := one("ExecStart"), "/usr/local/bin/herald serve --config /etc/herald/herald.yaml --data-dir /var/lib/herald"; got != want {
		t.Errorf("ExecStart=%s, want %s", got, want)
	}
	if one("StateDirectory") != "herald" || one("DynamicUser") != "yes" {
		t.Errorf("want DynamicUser=yes and StateDirectory=herald (so /var/lib/herald is writable)")
	}
	if one("ExecReload") != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s, want SIGHUP (the server re-reads its apps)", one("ExecReload"))
	}
}
