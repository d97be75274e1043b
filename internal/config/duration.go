package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ParseDuration reads a Go duration ("30s", "1m30s", "250ms") or a plain
// integer number of seconds ("30").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) || n < -int64(time.Duration(1<<63-1)/time.Second) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a value like \"30s\" or a number of seconds", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML accepts "30s" or 30. Errors are reported as *yaml.TypeError so
// the decoder keeps going and every problem in the file is reported at once.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a duration like \"30s\" or a number of seconds", n.Line)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// MarshalYAML writes the Go duration form ("30s").
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String returns the Go duration form ("30s").
func (d Duration) String() string { return time.Duration(d).String() }
