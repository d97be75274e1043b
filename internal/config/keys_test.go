package config

import (
	"bytes"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docs/configuration.md is generated; this fails when it is stale.
func TestReferenceUpToDate(t *testing.T) {
	var want bytes.Buffer
	if err := WriteReference(&want); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("%v: run %s", err, ReferenceCommand)
	}
	if !bytes.Equal(got, want.Bytes()) {
		g, w := strings.Split(string(got), "\n"), strings.Split(want.String(), "\n")
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Fatalf("docs/configuration.md is out of date: run %s\nline %d is  %q\nshould be   %q", ReferenceCommand, i+1, line(g), line(w))
	}
}

// Every key has a one-line description, and every description a key.
func TestKeysDescribed(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		seen[k.Path] = true
		switch {
		case k.Doc == "":
			t.Errorf("%s has no description: add it to keyDocs in keydocs.go", k.Path)
		case strings.ContainsAny(k.Doc, "\n\r"):
			t.Errorf("%s: the description must be one line", k.Path)
		}
		if k.Type == "" || strings.Contains(k.Type, ".") {
			t.Errorf("%s: type %q has no name in typeName", k.Path, k.Type)
		}
	}
	for p := range keyDocs {
		if !seen[p] {
			t.Errorf("keyDocs describes %q, which is not a key", p)
		}
	}
}

// A key's env variable sets that key, and Load reads no variable that no
// key lists.
func TestKeyEnv(t *testing.T) {
	base, err := Load("", nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{EnvConfig: true}
	for _, k := range Keys() {
		if k.Env == "" {
			continue
		}
		listed[k.Env] = true
		sample := map[string]string{"string": "sample", "int": "7", "bool": "false", "duration": "7s", "duration (whole seconds)": "7"}[k.Type]
		if sample == "" {
			t.Errorf("%s: no sample value for type %s", k.Path, k.Type)
			continue
		}
		cfg, err := Load("", envMap(map[string]string{k.Env: sample}), Overrides{})
		if err != nil {
			t.Errorf("%s=%s: %v", k.Env, sample, err)
			continue
		}
		if reflect.DeepEqual(valueAt(t, cfg, k.Path), valueAt(t, base, k.Path)) {
			t.Errorf("%s=%s does not set %s", k.Env, sample, k.Path)
		}
	}
	var read []string
	_, _ = Load("", func(name string) (string, bool) { read = append(read, name); return "", false }, Overrides{})
	for _, name := range read {
		if !listed[name] {
			t.Errorf("Load reads %s, which no key lists in keyDocs", name)
		}
	}
}

// valueAt follows a dotted path of YAML keys (no lists) through cfg.
func valueAt(t *testing.T, cfg Config, path string) any {
	t.Helper()
	v := reflect.ValueOf(cfg)
	for name := range strings.SplitSeq(path, ".") {
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		i := slices.IndexFunc(reflect.VisibleFields(v.Type()), func(sf reflect.StructField) bool { return yamlName(sf) == name })
		if i < 0 {
			t.Fatalf("%s: no key %q", path, name)
		}
		v = v.Field(i)
	}
	return v.Interface()
}

// The example of docs/configuration.md loads, validates but for the files
// it names, and sets every key.
func TestExampleYAML(t *testing.T) {
	cfg, err := Load(writeFile(t, "herald.yaml", exampleYAML), nil, Overrides{})
	if err != nil {
		t.Fatalf("example does not load:\n%v", err)
	}
	cfg.ApplyDefaults()
	files := []string{"tls.cert_file", "tls.key_file", "tls", "beams.instances[0].fcm.service_account_file", "beams.instances[0].apns.key_file"}
	for _, p := range Problems(cfg.Validate()) {
		if fe, ok := p.(*FieldError); !ok || !slices.Contains(files, fe.Path) {
			t.Errorf("example: %v", p)
		}
	}

	var root yaml.Node
	if err := yaml.Unmarshal([]byte(exampleYAML), &root); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				set[p] = true
				if !strings.HasSuffix(p, ".headers") {
					walk(n.Content[i+1], p)
				}
			}
		}
	}
	walk(&root, "")
	for _, k := range Keys() {
		if !set[k.Path] {
			t.Errorf("the example does not set %s", k.Path)
		}
	}
}
