package test

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// layers is the import direction of ../shared/STYLE.md, top first: a
// package imports only packages of later layers (or of its own family,
// e.g. internal/broker/redis imports internal/broker). cmd, bench,
// examples and internal/server wire everything and are not checked; the
// test helpers (wsraw, redistest, appstest) are imported by tests only.
var layers = [][]string{
	{"internal/loadgen"},
	// The dashboard drives the admin operations (STYLE.md lists it lower;
	// that file is shared and read-only here).
	{"internal/dashboard"},
	{"internal/admin"},
	{"internal/ws"},
	{"internal/httpapi"},
	{"internal/webhooks"},
	{"internal/hub"},
	{"internal/policy"}, // what a client may do: the hub asks it before touching state
	{"internal/broker"},
	{"internal/apps"},
	{"internal/beams"},
	{"internal/stats"},
	// The debug console's feed and the audit line of failed authorizations:
	// the hub, the edges, webhooks and the dashboard emit into it or serve it.
	{"internal/console"},
	{"internal/admission", "internal/logthrottle", "internal/nbiofix"},
	{"internal/protocol"},
	{"internal/signing"},
	{"internal/config"},
	{"internal/metrics"},
	{"internal/sqldsn"},
}

var unchecked = []string{"cmd/", "bench/", "examples/", "test", "internal/server",
	"internal/wsraw", "internal/redistest", "internal/pgtest", "internal/testlog", "internal/apps/appstest", "internal/broker/brokertest"}

const module = "github.com/heraldhq/herald/"

// family is the layer entry a package belongs to ("" when none).
func family(pkg string) (string, int) {
	for i, layer := range layers {
		for _, f := range layer {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				return f, i
			}
		}
	}
	return "", -1
}

func TestImportDirection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(fields[0], module)
		if isUnchecked(pkg) {
			continue
		}
		fam, rank := family(pkg)
		if rank < 0 {
			t.Errorf("%s is in no layer: add it to the layers in test/layering_test.go and ../shared/STYLE.md's order", pkg)
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			dfam, drank := family(dep)
			if dfam == fam {
				continue
			}
			if drank < 0 { // the composition root, a command or a test helper
				t.Errorf("%s imports %s, which no library package may import", pkg, dep)
			} else if drank <= rank {
				t.Errorf("%s imports %s, which is not below it (layers in test/layering_test.go)", pkg, dep)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages checked: go list output changed?", checked)
	}
}

// isUnchecked: pkg is one of unchecked or below one ("cmd/" entries match
// by prefix).
func isUnchecked(pkg string) bool {
	for _, u := range unchecked {
		if pkg == u || strings.HasPrefix(pkg, strings.TrimSuffix(u, "/")+"/") {
			return true
		}
	}
	return false
}
