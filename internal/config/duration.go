package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// durationForm is how every message spells the accepted forms.
const durationForm = `a duration like "30s", "5m", "90d" or a number of seconds`

var reDays = regexp.MustCompile(`^([+-]?)(\d+)d(.*)$`)

// ParseDuration reads a Go duration ("30s", "1m30s", "250ms"), a number of
// days with an optional Go duration after it ("90d", "1d12h") or a plain
// integer number of seconds ("30"). Every config key that takes a duration,
// and the --grace flags and the admin API's and dashboard's grace periods,
// read it with ParseDuration, so they all take the same forms (the bench's
// and health's timing flags are Go durations).
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	const maxSeconds = int64(math.MaxInt64 / int64(time.Second))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > maxSeconds || n < -maxSeconds {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return Duration(time.Duration(n) * time.Second), nil
	}
	if m := reDays.FindStringSubmatch(s); m != nil {
		days, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil || days > maxSeconds/(24*3600) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		d := time.Duration(days) * 24 * time.Hour
		if m[3] != "" {
			rest, err := time.ParseDuration(m[3])
			if err != nil || rest < 0 || rest > math.MaxInt64-d {
				return 0, fmt.Errorf("invalid duration %q: use %s", s, durationForm)
			}
			d += rest
		}
		if m[1] == "-" {
			d = -d
		}
		return Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use %s", s, durationForm)
	}
	return Duration(d), nil
}

// UnmarshalYAML accepts "30s", "90d" or 30. Errors are reported as
// *yaml.TypeError so the decoder keeps going and every problem in the file
// is reported at once (Load names the key: see checkNode).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected %s", n.Line, durationForm)}}
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

// Set parses s with ParseDuration, so that a *Duration is a flag value
// (pflag.Value).
func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Type names the flag value's type in help output.
func (d *Duration) Type() string { return "duration" }

// Seconds is a whole number of seconds, for keys whose value travels as an
// integer (activity_timeout is announced to clients in seconds). It reads
// like a Duration: 120, "120" and "120s" or "2m" all mean 120 seconds; a
// value that is not a whole number of seconds is refused.
type Seconds int

// D returns the value as a time.Duration.
func (s Seconds) D() time.Duration { return time.Duration(s) * time.Second }

// ParseSeconds reads s as ParseDuration does and requires whole seconds.
func ParseSeconds(s string) (Seconds, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d.D()%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds", strings.TrimSpace(s))
	}
	n := d.D() / time.Second
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, fmt.Errorf("duration %q out of range", strings.TrimSpace(s))
	}
	return Seconds(n), nil
}

// UnmarshalYAML accepts 120, "120" or "120s"; see Duration.UnmarshalYAML.
func (s *Seconds) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected %s", n.Line, durationForm)}}
	}
	v, err := ParseSeconds(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*s = v
	return nil
}

// MarshalYAML writes the number of seconds.
func (s Seconds) MarshalYAML() (any, error) { return int(s), nil }

// String returns the Go duration form ("2m0s").
func (s Seconds) String() string { return s.D().String() }

// Set parses v with ParseSeconds (a flag value).
func (s *Seconds) Set(v string) error {
	n, err := ParseSeconds(v)
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// Type names the flag value's type in help output.
func (s *Seconds) Type() string { return "seconds" }
