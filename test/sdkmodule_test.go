package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goIn runs the go command in dir (relative to the repository root), bounded
// to 2 minutes, and returns its standard output.
func goIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = "../" + dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out)
}

// TestSDKModuleStandsAlone: the Go SDK is a module of its own, so that an
// app importing it gets neither the server's dependencies nor its Go
// version. What the SDK builds is itself, the standard library and
// golang.org/x/crypto's secretbox; its module graph holds no module the
// server requires other than golang.org/x ones.
func TestSDKModuleStandsAlone(t *testing.T) {
	for _, line := range strings.Fields(goIn(t, "pusher", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")) {
		if line != "github.com/heraldhq/herald/pusher" && !strings.HasPrefix(line, "golang.org/x/crypto/") {
			t.Errorf("the SDK builds %s", line)
		}
	}
	sdkMods := strings.Fields(goIn(t, "pusher", "list", "-m", "-f", "{{.Path}}", "all"))
	serverMods := map[string]bool{}
	for _, m := range strings.Fields(goIn(t, ".", "list", "-m", "-f", "{{.Path}}", "all")) {
		serverMods[m] = true
	}
	for _, m := range sdkMods {
		if m == "github.com/heraldhq/herald/pusher" {
			continue
		}
		if serverMods[m] && !strings.HasPrefix(m, "golang.org/x/") {
			t.Errorf("the SDK's module graph holds %s, a dependency of the server", m)
		}
	}

	root, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := os.ReadFile("../pusher/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`)
	rv, sv := goLine.FindSubmatch(root), goLine.FindSubmatch(sdk)
	if rv == nil || sv == nil {
		t.Fatalf("no go line in go.mod (%q) or pusher/go.mod (%q)", rv, sv)
	}
	if minor(t, string(sv[1])) >= minor(t, string(rv[1])) {
		t.Errorf("pusher/go.mod needs go %s, not older than the server's %s", sv[1], rv[1])
	}
	// The server does not import the SDK either (a module cannot require
	// an unpublished one without a replace, which `go install …@latest`
	// refuses).
	if bytes.Contains(root, []byte("heraldhq/herald/pusher")) {
		t.Error("go.mod requires the SDK module")
	}
}

// minor returns N of a "1.N" or "1.N.P" Go version.
func minor(t *testing.T, v string) int {
	t.Helper()
	parts := strings.Split(v, ".")
	n, err := strconv.Atoi(parts[min(1, len(parts)-1)])
	if len(parts) < 2 || parts[0] != "1" || err != nil {
		t.Fatalf("Go version %q", v)
	}
	return n
}
