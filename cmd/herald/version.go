package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at build time alongside version (the Makefile does): -ldflags
// "-X main.commit=3b165c9abcde -X main.commitTime=2026-12-06T18:00:00Z
// -X main.treeModified=true". They are the fallback for a build the Go
// toolchain did not stamp with VCS information (-buildvcs=false, go run).
var (
	commit       = ""
	commitTime   = ""
	treeModified = ""
)

func newVersionCmd(d deps) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from, the Go version and platform",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(d.stdout, "herald %s %s %s/%s\n", fullVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

// fullVersion is what `herald version` and the start-up banner show:
// "v0.3.0 (commit 3b165c9abcde, 2026-12-06T18:00:00Z)", or the version alone
// when the commit is unknown.
func fullVersion() string {
	info, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, commitTime, treeModified, info).String()
}

// build identifies a binary.
type build struct {
	version  string // the -ldflags version, else the module version (go install), else "dev"
	commit   string // abbreviated revision; "" when unknown
	modified bool   // built from a tree with uncommitted changes
	time     string // the commit's time (not the build's: builds stay reproducible), RFC 3339; "" when unknown
}

// revisionLen is how much of a revision is shown: as much as a Go
// pseudo-version carries, and what the Makefile asks git for.
const revisionLen = 12

// resolveBuild combines the -ldflags values with what the toolchain recorded
// (info may be nil). The toolchain's VCS settings win over the -ldflags
// commit, time and modified flag: they describe the tree actually compiled.
func resolveBuild(ldVersion, ldCommit, ldTime, ldModified string, info *debug.BuildInfo) build {
	b := build{version: ldVersion, commit: ldCommit, time: ldTime, modified: ldModified == "true"}
	if b.version == "" {
		b.version = "dev"
	}
	if info != nil {
		if v := info.Main.Version; b.version == "dev" && v != "" && v != "(devel)" {
			b.version = v
		}
		var rev, modified, at string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				at = s.Value
			}
		}
		if rev != "" {
			b.commit, b.modified, b.time = rev, modified == "true", at
		}
	}
	if len(b.commit) > revisionLen {
		b.commit = b.commit[:revisionLen]
	}
	return b
}

// String is the version, then the commit ("-dirty" when the tree was
// modified) and its time in parentheses when known.
func (b build) String() string {
	if b.commit == "" {
		return b.version
	}
	var s strings.Builder
	s.WriteString(b.version + " (commit " + b.commit)
	if b.modified {
		s.WriteString("-dirty")
	}
	if b.time != "" {
		s.WriteString(", " + b.time)
	}
	s.WriteString(")")
	return s.String()
}
