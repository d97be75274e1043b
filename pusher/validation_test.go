package pusher

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestValidationMakesNoRequest: every bad input gives a *ValidationError
// naming the field, and nothing reaches the transport.
func TestValidationMakesNoRequest(t *testing.T) {
	c := newTestClient(t, failTransport(t))
	noKey, err := New(Config{AppID: "1", Key: testKey, Secret: testSecret, Host: "h", HTTPClient: c.hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := strings.Repeat("a", 201)
	many := make([]string, 101)
	for i := range many {
		many[i] = "c" + strconv.Itoa(i)
	}
	trig := func(p TriggerParams) func() error {
		return func() error { _, err := c.Trigger(ctx, p); return err }
	}
	ok := TriggerParams{Channels: []string{"my-channel"}, Event: "e", Data: "d"}
	with := func(f func(*TriggerParams)) TriggerParams { p := ok; f(&p); return p }
	batch := func(evs ...BatchEvent) func() error {
		return func() error { _, err := c.TriggerBatch(ctx, evs); return err }
	}
	good := BatchEvent{Channel: "a", Event: "e", Data: "d"}
	auth := func(p ChannelAuthParams) func() error {
		return func() error { _, err := c.AuthorizeChannel(p); return err }
	}

	tests := []struct {
		name  string
		call  func() error
		field string
		noKey bool // also wraps ErrNoMasterKey
	}{
		{"no channels", trig(with(func(p *TriggerParams) { p.Channels = nil })), "Channels", false},
		{"101 channels", trig(with(func(p *TriggerParams) { p.Channels = many })), "Channels", false},
		{"empty channel", trig(with(func(p *TriggerParams) { p.Channels = []string{"a", ""} })), "Channels[1]", false},
		{"channel with space", trig(with(func(p *TriggerParams) { p.Channels = []string{"a b"} })), "Channels[0]", false},
		{"channel of 201 bytes", trig(with(func(p *TriggerParams) { p.Channels = []string{long} })), "Channels[0]", false},
		{"user channel via Trigger", trig(with(func(p *TriggerParams) { p.Channels = []string{"#server-to-user-1"} })), "Channels[0]", false},
		{"non-ASCII channel", trig(with(func(p *TriggerParams) { p.Channels = []string{"café"} })), "Channels[0]", false},
		{"empty event", trig(with(func(p *TriggerParams) { p.Event = "" })), "Event", false},
		{"event of 201 bytes", trig(with(func(p *TriggerParams) { p.Event = long })), "Event", false},
		{"uuid socket id", trig(with(func(p *TriggerParams) { p.SocketID = "3f2a-11" })), "SocketID", false},
		{"socket id 1.2.3", trig(with(func(p *TriggerParams) { p.SocketID = "1.2.3" })), "SocketID", false},
		{"socket id .1", trig(with(func(p *TriggerParams) { p.SocketID = ".1" })), "SocketID", false},
		{"data 10241 bytes", trig(with(func(p *TriggerParams) { p.Data = strings.Repeat("x", MaxDataBytes+1) })), "Data", false},
		{"data 10239 bytes JSON-encoded to 10241", trig(with(func(p *TriggerParams) { p.Data = []string{strings.Repeat("x", MaxDataBytes-3)} })), "Data", false},
		{"unencodable data", trig(with(func(p *TriggerParams) { p.Data = func() {} })), "Data", false},
		{"encrypted plus another channel", trig(with(func(p *TriggerParams) { p.Channels = []string{"a", "private-encrypted-x"} })), "Channels", false},
		{"encrypted over size once encrypted", trig(with(func(p *TriggerParams) {
			p.Channels = []string{"private-encrypted-x"}
			p.Data = strings.Repeat("x", MaxDataBytes-40)
		})), "Data", false},
		{"encrypted without master key", func() error {
			_, err := noKey.Trigger(ctx, with(func(p *TriggerParams) { p.Channels = []string{"private-encrypted-x"} }))
			return err
		}, "Data", true},

		{"empty batch", batch(), "Batch", false},
		{"11 events", batch(good, good, good, good, good, good, good, good, good, good, good), "Batch", false},
		{"batch bad channel", batch(good, good, good, BatchEvent{Channel: "a:b", Event: "e", Data: "d"}), "Batch[3].Channel", false},
		{"batch empty event", batch(BatchEvent{Channel: "a", Data: "d"}), "Batch[0].Event", false},
		{"batch bad socket", batch(BatchEvent{Channel: "a", Event: "e", SocketID: "x"}), "Batch[0].SocketID", false},
		{"batch big data", batch(good, BatchEvent{Channel: "a", Event: "e", Data: strings.Repeat("x", MaxDataBytes+1)}), "Batch[1].Data", false},
		{"batch encrypted without key", func() error {
			_, err := noKey.TriggerBatch(ctx, []BatchEvent{{Channel: "private-encrypted-x", Event: "e", Data: "d"}})
			return err
		}, "Batch[0].Data", true},

		{"send to empty user", func() error { return c.SendToUser(ctx, SendToUserParams{Event: "e", Data: "d"}) }, "UserID", false},
		{"send to long user", func() error { return c.SendToUser(ctx, SendToUserParams{UserID: long, Event: "e"}) }, "UserID", false},
		{"send without event", func() error { return c.SendToUser(ctx, SendToUserParams{UserID: "1"}) }, "Event", false},
		{"send too much", func() error {
			return c.SendToUser(ctx, SendToUserParams{UserID: "1", Event: "e", Data: strings.Repeat("x", MaxDataBytes+1)})
		}, "Data", false},
		{"terminate empty user", func() error { return c.TerminateUserConnections(ctx, "") }, "UserID", false},
		{"terminate long user", func() error { return c.TerminateUserConnections(ctx, long) }, "UserID", false},

		{"channel bad name", func() error { _, err := c.Channel(ctx, "a/b", ChannelParams{}); return err }, "Channel", false},
		{"channel empty name", func() error { _, err := c.Channel(ctx, "", ChannelParams{}); return err }, "Channel", false},
		{"users of private channel", func() error { _, err := c.PresenceUsers(ctx, "private-x"); return err }, "Channel", false},
		{"users bad name", func() error { _, err := c.PresenceUsers(ctx, "presence-a?b"); return err }, "Channel", false},

		{"auth bad socket", auth(ChannelAuthParams{SocketID: "abc", Channel: "private-x"}), "SocketID", false},
		{"auth empty socket", auth(ChannelAuthParams{Channel: "private-x"}), "SocketID", false},
		{"auth bad channel", auth(ChannelAuthParams{SocketID: "1.2", Channel: "private-x y"}), "Channel", false},
		{"auth public channel", auth(ChannelAuthParams{SocketID: "1.2", Channel: "my-channel"}), "Channel", false},
		{"auth user channel", auth(ChannelAuthParams{SocketID: "1.2", Channel: "#server-to-user-1"}), "Channel", false},
		{"presence without member", auth(ChannelAuthParams{SocketID: "1.2", Channel: "presence-x"}), "Member", false},
		{"presence member without id", auth(ChannelAuthParams{SocketID: "1.2", Channel: "presence-x", Member: &Member{}}), "Member.UserID", false},
		{"presence unencodable info", auth(ChannelAuthParams{SocketID: "1.2", Channel: "presence-x", Member: &Member{UserID: "1", UserInfo: make(chan int)}}), "Member.UserInfo", false},
		{"member on private", auth(ChannelAuthParams{SocketID: "1.2", Channel: "private-x", Member: &Member{UserID: "1"}}), "Member", false},
		{"encrypted auth without key", func() error {
			_, err := noKey.AuthorizeChannel(ChannelAuthParams{SocketID: "1.2", Channel: "private-encrypted-x"})
			return err
		}, "Channel", true},
		{"user auth bad socket", func() error {
			_, err := c.AuthenticateUser(UserAuthParams{SocketID: "1", User: UserData{ID: "1"}})
			return err
		}, "SocketID", false},
		{"user auth empty id", func() error {
			_, err := c.AuthenticateUser(UserAuthParams{SocketID: "1.2"})
			return err
		}, "User.ID", false},
		{"user auth long id", func() error {
			_, err := c.AuthenticateUser(UserAuthParams{SocketID: "1.2", User: UserData{ID: long}})
			return err
		}, "User.ID", false},
		{"decrypt without key", func() error { _, err := noKey.Decrypt("private-encrypted-x", "{}"); return err }, "Channel", true},
		{"decrypt public channel", func() error { _, err := c.Decrypt("x", "{}"); return err }, "Channel", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v (%T), want *ValidationError", err, err)
			}
			if ve.Field != tc.field {
				t.Errorf("Field = %q, want %q (%v)", ve.Field, tc.field, err)
			}
			if !errors.Is(err, ErrInvalidParams) {
				t.Error("errors.Is(err, ErrInvalidParams) is false")
			}
			if errors.Is(err, ErrNoMasterKey) != tc.noKey {
				t.Errorf("errors.Is(err, ErrNoMasterKey) = %v, want %v", !tc.noKey, tc.noKey)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

// TestLimitsAccepted: values right at each limit are sent.
func TestLimitsAccepted(t *testing.T) {
	rec := &recorder{body: "{}"}
	c := newTestClient(t, rec)
	ctx := context.Background()
	hundred := make([]string, 100)
	for i := range hundred {
		hundred[i] = "c" + strconv.Itoa(i)
	}
	name200 := strings.Repeat("a", 200)
	calls := map[string]func() error{
		"100 channels": func() error {
			_, err := c.Trigger(ctx, TriggerParams{Channels: hundred, Event: "e", Data: "d"})
			return err
		},
		"200-byte names": func() error {
			_, err := c.Trigger(ctx, TriggerParams{Channels: []string{name200}, Event: name200, Data: "d"})
			return err
		},
		"10240 bytes": func() error {
			_, err := c.Trigger(ctx, TriggerParams{Channels: []string{"a"}, Event: "e", Data: strings.Repeat("x", MaxDataBytes)})
			return err
		},
		"all channel chars": func() error {
			_, err := c.Trigger(ctx, TriggerParams{Channels: []string{"AZaz09-_=@,.;"}, Event: "e", Data: ""})
			return err
		},
		"any event name": func() error {
			_, err := c.Trigger(ctx, TriggerParams{Channels: []string{"a"}, Event: `App\Events\X ü "q"`, Data: nil})
			return err
		},
		"10 events":        func() error { _, err := c.TriggerBatch(ctx, make10()); return err },
		"200-byte user id": func() error { return c.SendToUser(ctx, SendToUserParams{UserID: name200, Event: "e", Data: "d"}) },
		"presence signed in": func() error {
			_, err := c.AuthorizeChannel(ChannelAuthParams{SocketID: "1.2", Channel: "presence-x", UseSignedInUser: true})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(rec.reqs) != len(calls)-1 {
		t.Errorf("%d requests, want %d", len(rec.reqs), len(calls)-1)
	}
}

func make10() []BatchEvent {
	evs := make([]BatchEvent, 10)
	for i := range evs {
		evs[i] = BatchEvent{Channel: "c" + strconv.Itoa(i), Event: "e", Data: i}
	}
	return evs
}

func TestNewValidation(t *testing.T) {
	base := Config{AppID: "1", Key: "k", Secret: "s", Host: "127.0.0.1:6001"}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no app id", func(c *Config) { c.AppID = "" }, "Config.AppID"},
		{"no key", func(c *Config) { c.Key = "" }, "Config.Key"},
		{"no secret", func(c *Config) { c.Secret = "" }, "Config.Secret"},
		{"no host", func(c *Config) { c.Host = "" }, "Config.Host"},
		{"host with scheme", func(c *Config) { c.Host = "http://x" }, "Config.Host"},
		{"host with path", func(c *Config) { c.Host = "x/apps" }, "Config.Host"},
		{"bad scheme", func(c *Config) { c.Scheme = "ws" }, "Config.Scheme"},
		{"relative prefix", func(c *Config) { c.PathPrefix = "herald" }, "Config.PathPrefix"},
		{"master key not base64", func(c *Config) { c.EncryptionMasterKeyBase64 = "not base64!" }, "Config.EncryptionMasterKeyBase64"},
		{"master key 16 bytes", func(c *Config) { c.EncryptionMasterKeyBase64 = "AAECAwQFBgcICQoLDA0ODw==" }, "Config.EncryptionMasterKeyBase64"},
	}
	for _, tc := range tests {
		cfg := base
		tc.edit(&cfg)
		_, err := New(cfg)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: err = %v, want field %s", tc.name, err, tc.field)
		}
	}
	c, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.scheme != "http" || c.timeout != DefaultTimeout || c.hc == nil {
		t.Errorf("defaults: scheme %q timeout %v", c.scheme, c.timeout)
	}
	base.Scheme, base.Timeout = "HTTPS", -1
	if c, err = New(base); err != nil || c.scheme != "https" || c.timeout >= 0 {
		t.Errorf("https/no timeout: %+v %v", c, err)
	}
}
