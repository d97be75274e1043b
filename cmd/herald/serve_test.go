package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/config"
)

// docs/configuration.md lists each key's `herald serve` flag from
// config.Keys: every listed flag exists and names the key's variable, and
// every flag but --config sets a listed key.
func TestServeFlagsMatchConfigKeys(t *testing.T) {
	fs := newServeCmd(deps{}).Flags()
	byFlag := map[string]config.Key{}
	for _, k := range config.Keys() {
		if k.Flag == "" {
			continue
		}
		byFlag[strings.TrimPrefix(k.Flag, "--")] = k
		f := fs.Lookup(strings.TrimPrefix(k.Flag, "--"))
		switch {
		case f == nil:
			t.Errorf("%s: herald serve has no flag %s", k.Path, k.Flag)
		case k.Env != "" && !strings.Contains(f.Usage, k.Env):
			t.Errorf("%s: the help of %s does not name %s: %q", k.Path, k.Flag, k.Env, f.Usage)
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := byFlag[f.Name]; !ok && f.Name != "config" {
			t.Errorf("herald serve --%s sets no key listed in config.Keys (keydocs.go)", f.Name)
		}
	})
}
