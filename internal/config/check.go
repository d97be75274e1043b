package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// yamlProblem is one mistake checkYAML found, at a line of the file.
type yamlProblem struct {
	line int
	msg  string
	node *yaml.Node // the bad value; nil for an unknown key
}

// maxCheckedNodes bounds the walk: aliases can make a small file a huge tree
// (the decoder refuses such a file on its own).
const maxCheckedNodes = 100_000

// checkYAML walks a parsed file against the Config type and reports, naming
// the key, what the decoder reports without naming it (a value of the wrong
// type, an unknown key) or does not report at all (a fraction where a whole
// number goes: yaml.v3 truncates 1.5 to 1).
func checkYAML(doc *yaml.Node) []yamlProblem {
	c := &checker{}
	c.node(doc, reflect.TypeFor[Config](), "")
	return c.problems
}

type checker struct {
	problems []yamlProblem
	visited  int
}

func (c *checker) add(n *yaml.Node, format string, args ...any) {
	c.problems = append(c.problems, yamlProblem{line: n.Line, msg: fmt.Sprintf(format, args...), node: n})
}

func (c *checker) node(n *yaml.Node, t reflect.Type, path string) {
	if c.visited++; c.visited > maxCheckedNodes {
		return
	}
	switch n.Kind {
	case 0: // an empty file
		return
	case yaml.DocumentNode:
		for _, x := range n.Content {
			c.node(x, t, path)
		}
		return
	case yaml.AliasNode:
		c.node(n.Alias, t, path)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // the decoder leaves the zero value: the default
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType || t == secondsType:
		c.duration(n, t, path)
	case isStruct(t):
		c.section(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.add(n, "%s: %s is not a list", path, shown(n))
			return
		}
		for i, e := range n.Content {
			c.node(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.add(n, "%s: %s is not a map of names to values", path, shown(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.node(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value)
		}
	default:
		c.scalar(n, t, path)
	}
}

func (c *checker) duration(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		c.add(n, "%s: %s is not %s", path, shown(n), durationForm)
		return
	}
	var err error
	if t == secondsType {
		_, err = ParseSeconds(n.Value)
	} else {
		_, err = ParseDuration(n.Value)
	}
	switch {
	case err != nil && strings.Contains(err.Error(), "whole number"):
		c.add(n, "%s: %s is not a whole number of seconds", path, shown(n))
	case err != nil && strings.Contains(err.Error(), "out of range"):
		c.add(n, "%s: %s is out of range", path, shown(n))
	case err != nil:
		c.add(n, "%s: %s is not %s", path, shown(n), durationForm)
	}
}

func (c *checker) section(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		// The value is not shown: redis: redis://:password@host is a
		// likely mistake.
		what := "a single value"
		if n.Kind == yaml.SequenceNode {
			what = "a list"
		}
		name := path
		if name == "" {
			name = "the file"
		}
		c.add(n, "%s must be a section with %s keys, not %s", name, someKeys(t), what)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			c.node(v, t, path) // a merged mapping (or list of them) holds keys of this section
			continue
		}
		sf, ok := fieldByKey(t, k.Value)
		if !ok {
			where := "at top level"
			if path != "" {
				where = "in " + path
			}
			msg := fmt.Sprintf("unknown key %q %s", k.Value, where)
			if s := suggestKey(t, path, k.Value); s != "" {
				msg += " — did you mean " + s + "?"
			}
			c.problems = append(c.problems, yamlProblem{line: k.Line, msg: msg})
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		c.node(v, sf.Type, p)
	}
}

func (c *checker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		c.add(n, "%s: %s is not %s", path, shown(n), article(t))
		return
	}
	v := reflect.New(t)
	err := n.Decode(v.Interface())
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var f float64
		switch {
		case err == nil && n.ShortTag() == "!!float" && n.Decode(&f) == nil && f != math.Trunc(f):
			c.add(n, "%s: %s is not a whole number", path, shown(n)) // yaml.v3 would truncate it
		case err == nil:
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && isNumber(n.Value):
			c.add(n, "%s: %s is quoted: write it without quotes to make it a number", path, shown(n))
		case n.ShortTag() == "!!float" || n.ShortTag() == "!!int":
			c.add(n, "%s: %s is out of range", path, shown(n))
		default:
			c.add(n, "%s: %s is not a number", path, shown(n))
		}
	default:
		if err != nil {
			c.add(n, "%s: %s is not %s", path, shown(n), article(t))
		}
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// article names what a scalar of type t must be.
func article(t reflect.Type) string {
	switch t {
	case timeType:
		return "a time like 2026-01-31T00:00:00Z"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a number"
	}
	return "a " + typeName(t)
}

// shown quotes a scalar (cut to 40 characters) or names a list or section.
func shown(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a section"
	case yaml.AliasNode:
		return "an alias"
	}
	s := n.Value
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	return strconv.Quote(s)
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if sf := t.Field(i); yamlName(sf) == key {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

func sectionKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// someKeys names a section's keys: "url and prefix", or the first two and
// "…" for a long one.
func someKeys(t reflect.Type) string {
	keys := sectionKeys(t)
	switch {
	case len(keys) == 1:
		return keys[0]
	case len(keys) <= 3:
		return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
	}
	return keys[0] + ", " + keys[1] + ", …"
}

// suggestKey proposes the known key nearest to an unknown one: in the same
// section the same name spelled otherwise (maxConnections), one at most two
// edits away, or one it starts (or that starts it); else the same name in
// another section ("limits.max_connections" for a top-level
// max_connections). "" when nothing is near.
func suggestKey(t reflect.Type, path, key string) string {
	known := sectionKeys(t)
	norm := normalizeKey(key)
	for _, k := range known {
		if normalizeKey(k) == norm {
			return strconv.Quote(k)
		}
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := levenshtein(key, k); d < bestDist && d < len(key) {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return strconv.Quote(best)
	}
	for _, k := range known {
		if len(key) >= 3 && (strings.HasPrefix(k, key) || strings.HasPrefix(key, k)) {
			return strconv.Quote(k)
		}
	}
	var elsewhere []string
	for _, k := range Keys() {
		last := k.Path[strings.LastIndexByte(k.Path, '.')+1:]
		if normalizeKey(last) == norm && len(elsewhere) < 2 {
			elsewhere = append(elsewhere, strconv.Quote(k.Path))
		}
	}
	return strings.Join(elsewhere, " or ")
}

func normalizeKey(s string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
}

// levenshtein is the edit distance between a and b (bytes).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// dropBadValues makes every value checkYAML found wrong null, so that the
// rest of the file decodes (a bad time stops yaml.v3 at once).
func dropBadValues(problems []yamlProblem) {
	for _, p := range problems {
		if p.node != nil {
			*p.node = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: p.node.Line, Column: p.node.Column}
		}
	}
}
