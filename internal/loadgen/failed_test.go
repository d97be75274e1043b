package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestAllFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    interface{ allFailed() error }
		want string // "" = not all failed
	}{
		{"api ok", &APIResult{OK: 1, Errors: 5}, ""},
		{"api nothing sent", &APIResult{}, ""},
		{"api all failed", &APIResult{Errors: 7, FirstError: "HTTP 401: bad"}, "all 7 requests failed; first error: HTTP 401: bad"},
		{"connect ok", &ConnectResult{Established: 1, Failed: 9}, ""},
		{"connect all failed", &ConnectResult{Failed: 3, FirstError: "refused"}, "all 3 connections failed; first error: refused"},
		{"connect none tried", &ConnectResult{Seconds: 1}, "no connection established in 1.0 s"},
		{"idle some", &IdleResult{Connections: 5, Opened: 1, Failed: 4}, ""},
		{"idle none", &IdleResult{Connections: 5, Failed: 5}, "all 5 connections failed"},
		{"fanout no steps", &FanoutResult{}, ""},
		{"fanout delivered", &FanoutResult{Steps: []FanoutStep{{Published: 2, Delivered: 0}, {Published: 2, Delivered: 1}}}, ""},
		{"fanout publishes failed", &FanoutResult{FirstError: "pool", Steps: []FanoutStep{{Published: 2, PublishErrors: 2, FirstError: "HTTP 401: x"}}},
			"nothing delivered: every one of the 2 publishes failed; first error: HTTP 401: x"},
		{"fanout nothing arrived", &FanoutResult{Steps: []FanoutStep{{Published: 4}}}, "nothing delivered (4 events published, 0 publish errors)"},
		{"presence ok", &PresenceResult{Joins: 3, MemberEvents: 1}, ""},
		{"presence no joins", &PresenceResult{}, ""},
		{"presence nothing seen", &PresenceResult{Joins: 3, Leaves: 2}, "no member event received for 3 joins and 2 leaves"},
	} {
		err := tc.r.allFailed()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want nil", tc.name, err)
			}
			continue
		}
		var af *AllFailedError
		if !errors.As(err, &af) || err.Error() != tc.want {
			t.Errorf("%s: %v, want AllFailedError %q", tc.name, err, tc.want)
		}
	}
	if err := endErr(context.Canceled, (&APIResult{Errors: 1}).allFailed); err != context.Canceled {
		t.Errorf("interrupted run: %v, want the context's error", err)
	}
	long := (&APIResult{Errors: 1, FirstError: strings.Repeat("x", 1000)}).allFailed().Error()
	if len(long) > 400 || !strings.HasSuffix(long, "...") {
		t.Errorf("first error not shortened: %d bytes", len(long))
	}
}

func TestCredentialsRefused(t *testing.T) {
	for msg, want := range map[string]bool{
		`HTTP 401: {"error":"Invalid signature"}`:         true,
		`HTTP 403: forbidden`:                             true,
		`HTTP 404: {"error":"Unknown app id","code":404}`: true,
		`welcome: {"event":"pusher:error","data":{"code":4001,"message":"App key x not in this cluster"}}`: true,
		`{"event":"pusher:error","data":{"code":null,"message":"Invalid signature: expected ..."}}`:        true,
		`HTTP 413: too large`:                      false,
		`dial tcp 127.0.0.1:1: connection refused`: false,
		`HTTP 4010: odd`:                           false,
	} {
		if got := CredentialsRefused(msg); got != want {
			t.Errorf("CredentialsRefused(%q) = %v, want %v", msg, got, want)
		}
	}
}
