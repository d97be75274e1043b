package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30s", 30 * time.Second, false},
		{"30", 30 * time.Second, false},
		{" 45 ", 45 * time.Second, false},
		{"0", 0, false},
		{"1m30s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"-5", -5 * time.Second, false}, // parses; Validate rejects negatives
		{"", 0, true},
		{"abc", 0, true},
		{"1.5", 0, true},
		{"30 s", 0, true},
		{"99999999999999", 0, true}, // overflows time.Duration
		{"90d", 90 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"0d", 0, false},
		{"-2d", -48 * time.Hour, false},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"1dx", 0, true},
		{"1d-1h", 0, true},
		{"106751d", 106751 * 24 * time.Hour, false},
		{"106752d", 0, true}, // overflows time.Duration
		{"106751d24h", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDuration(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got.D() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got.D(), tt.want)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"d: 30s", 30 * time.Second, ""},
		{"d: 30", 30 * time.Second, ""},
		{`d: "15"`, 15 * time.Second, ""},
		{"d: 2m", 2 * time.Minute, ""},
		{"d: nope", 0, `line 1: invalid duration "nope"`},
		{"d: [1]", 0, "line 1: expected a duration"},
	}
	for _, tt := range tests {
		var v struct{ D Duration }
		err := yaml.Unmarshal([]byte(tt.yaml), &v)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil || v.D.D() != tt.want {
			t.Errorf("%q: got %v, %v; want %v", tt.yaml, v.D.D(), err, tt.want)
		}
	}
	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil || strings.TrimSpace(string(out)) != "d: 1m30s" {
		t.Errorf("marshal: %q, %v", out, err)
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in      string
		want    Seconds
		wantErr string
	}{
		{"120", 120, ""},
		{"120s", 120, ""},
		{"2m", 120, ""},
		{" 0 ", 0, ""},
		{"1d", 86400, ""},
		{"2.5s", 0, "whole number of seconds"},
		{"1500ms", 0, "whole number of seconds"},
		{"1.5", 0, "invalid duration"},
		{"soon", 0, "invalid duration"},
		{"3000000000", 0, "out of range"},
	}
	for _, tt := range tests {
		got, err := ParseSeconds(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSeconds(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSeconds(%q) = %v, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	var s Seconds
	if err := s.Set("90s"); err != nil || s != 90 || s.D() != 90*time.Second {
		t.Errorf("Set(90s): %d, %v", s, err)
	}
	var d Duration
	if err := d.Set("90d"); err != nil || d.D() != 90*24*time.Hour {
		t.Errorf("Set(90d): %v, %v", d, err)
	}
}
