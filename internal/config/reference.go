package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ReferenceCommand regenerates docs/configuration.md.
const ReferenceCommand = "go generate ./internal/config"

// WriteReference writes docs/configuration.md: every key of Keys, grouped by
// section, then exampleYAML.
func WriteReference(w io.Writer) error {
	keys := Keys()
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Configuration reference

<!-- Generated from internal/config (keys.go, keydocs.go, example.go) by %[1]s. Do not edit. -->

Herald reads a YAML file (`+"`--config FILE`"+` or `+"`HERALD_CONFIG`"+`), then the `+"`HERALD_*`"+`
environment variables, then the flags of `+"`herald serve`"+`; each layer overrides the one before.
`+"`herald check-config --config FILE`"+` prints every problem at once, each naming its key.

- **Durations** are written `+"`30s`, `5m`, `1h30m`, `90d`"+` or as a plain number of seconds (`+"`120`"+`);
  keys of whole seconds (`+"`activity_timeout`"+`) take the same forms.
- **Lists** are written `+"`key[]`"+` below: `+"`apps[].webhooks[].url`"+` is the `+"`url`"+` of each webhook of each app.
- A key left out, or set to 0 or "", takes the default shown; *Default* says what it depends on when it does.
- Unknown keys are errors (with the nearest known key suggested), and so is a fraction where a whole number goes.
`, ReferenceCommand)

	var order []string
	groups := map[string][]Key{}
	docs := map[string]Key{}
	for _, k := range keys {
		if k.Section {
			order = append(order, k.Path)
			docs[k.Path] = k
			continue
		}
		parent := ""
		if i := strings.LastIndexByte(k.Path, '.'); i >= 0 {
			parent = k.Path[:i]
			parent = strings.TrimSuffix(parent, "[]")
		}
		if _, ok := groups[parent]; !ok && parent == "" {
			order = append([]string{""}, order...)
		}
		groups[parent] = append(groups[parent], k)
	}
	for _, g := range order {
		if g == "" {
			b.WriteString("\n## Top level\n\n")
		} else {
			s := docs[g]
			fmt.Fprintf(&b, "\n## `%s`\n\n%s (%s)\n\n", listPath(s), cell(s.Doc), s.Type)
			if s.DefaultNote != "" {
				fmt.Fprintf(&b, "Default: %s.\n\n", cell(s.DefaultNote))
			}
		}
		rows := groups[g]
		if len(rows) == 0 {
			continue
		}
		b.WriteString("| Key | Type | Default | Env / flag | Description |\n|---|---|---|---|---|\n")
		for _, k := range rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.Path, k.Type, cell(defaultCell(k)), envFlagCell(k), cell(k.Doc))
		}
	}
	fmt.Fprintf(&b, "\n## Example\n\nEvery key, with its default or a sample value (checked by the tests: it loads without error).\n\n```yaml\n%s```\n", exampleYAML)
	_, err := w.Write(b.Bytes())
	return err
}

// listPath is a section's path as a heading: "apps[]" for a list.
func listPath(k Key) string {
	if k.Type == "list of sections" {
		return k.Path + "[]"
	}
	return k.Path
}

func defaultCell(k Key) string {
	switch {
	case k.Default == "" && k.DefaultNote == "":
		return "—"
	case k.Default == "":
		return k.DefaultNote
	case k.DefaultNote == "":
		return "`" + k.Default + "`"
	}
	return "`" + k.Default + "` — " + k.DefaultNote
}

func envFlagCell(k Key) string {
	var parts []string
	if k.Env != "" {
		parts = append(parts, "`"+k.Env+"`")
	}
	if k.Flag != "" {
		parts = append(parts, "`"+k.Flag+"`")
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "<br>")
}

// cell escapes what would break a table row or read as HTML ("<path>")
// outside code spans.
func cell(s string) string {
	var b strings.Builder
	code := false
	for _, r := range s {
		switch {
		case r == '`':
			code = !code
		case r == '|':
			b.WriteByte('\\')
		case r == '<' && !code:
			b.WriteString("&lt;")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
