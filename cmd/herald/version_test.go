package main

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestResolveBuild(t *testing.T) {
	const rev = "3b165c9abcdef0123456789abcdef0123456789a"
	vcs := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-06T18:00:00Z"},
			{Key: "vcs.modified", Value: modified},
		}}
	}
	for _, tc := range []struct {
		name                             string
		ldVersion, ldCommit, ldTime, ldM string
		info                             *debug.BuildInfo
		want                             string
	}{
		{"nothing known", "dev", "", "", "", nil, "dev"},
		{"empty version", "", "", "", "", nil, "dev"},
		{"ldflags version only", "v0.3.0", "", "", "", &debug.BuildInfo{}, "v0.3.0"},
		{"toolchain VCS", "v0.3.0", "", "", "", vcs("false"), "v0.3.0 (commit 3b165c9abcde, 2026-12-06T18:00:00Z)"},
		{"toolchain VCS, modified tree", "v0.3.0-dirty", "", "", "", vcs("true"), "v0.3.0-dirty (commit 3b165c9abcde-dirty, 2026-12-06T18:00:00Z)"},
		{"toolchain VCS wins over ldflags", "v0.3.0", "0000000", "2000-01-01T00:00:00Z", "true", vcs("false"), "v0.3.0 (commit 3b165c9abcde, 2026-12-06T18:00:00Z)"},
		{"ldflags fallback", "v0.3.0", "3b165c9", "2026-12-06T18:00:00Z", "", &debug.BuildInfo{}, "v0.3.0 (commit 3b165c9, 2026-12-06T18:00:00Z)"},
		{"ldflags fallback, modified, no time", "v0.3.0", "3b165c9", "", "true", nil, "v0.3.0 (commit 3b165c9-dirty)"},
		{"ldflags commit cut to 12", "v0.3.0", rev, "", "", nil, "v0.3.0 (commit 3b165c9abcde)"},
		{"dev build from a checkout", "dev", "", "", "", vcs("false"), "dev (commit 3b165c9abcde, 2026-12-06T18:00:00Z)"},
		{"go install @version", "dev", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0"},
		{"ldflags version wins over the module's", "v0.4.0-rc.1", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, "v0.4.0-rc.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveBuild(tc.ldVersion, tc.ldCommit, tc.ldTime, tc.ldM, tc.info).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionCommit checks the line `herald version` prints with the
// -ldflags commit (a test binary carries no VCS settings, so the fallback
// shows), and that the server's banner gets the same version.
func TestVersionCommit(t *testing.T) {
	oldV, oldC, oldT, oldM := version, commit, commitTime, treeModified
	t.Cleanup(func() { version, commit, commitTime, treeModified = oldV, oldC, oldT, oldM })
	version, commit, commitTime, treeModified = "v0.3.0", "3b165c9", "2026-12-06T18:00:00Z", ""
	r := cli(t, nil, nil, "version")
	line := regexp.MustCompile(`^herald v0\.3\.0 \(commit 3b165c9, 2026-12-06T18:00:00Z\) go1\.\d+\S* \w+/\w+\n$`)
	if r.code != exitOK || !line.MatchString(r.stdout) {
		t.Fatalf("exit %d stdout %q", r.code, r.stdout)
	}
	r = cli(t, nil, nil, "serve", "--config", write(t, "good.yaml", goodYAML))
	if want := "v0.3.0 (commit 3b165c9, 2026-12-06T18:00:00Z)"; r.opts.Version != want {
		t.Errorf("server got version %q, want %q", r.opts.Version, want)
	}
}
