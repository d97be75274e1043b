package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/protocol"
	"github.com/heraldhq/herald/internal/signing"
)

const (
	sid     = "123.456"
	primary = "app-secret"
	old     = "old-secret"
	expired = "expired-secret"
)

var now = time.Unix(1_800_000_000, 0)

// testApp accepts the primary and one previous secret; a third one has
// expired.
func testApp() *apps.App {
	return &apps.App{ID: "1", Key: "app-key", Secret: primary, Enabled: true, PreviousSecrets: []apps.PreviousSecret{
		{Secret: old, ExpiresAt: now.Add(time.Hour)},
		{Secret: expired, ExpiresAt: now.Add(-time.Second)},
	}}
}

func testPolicy() *Policy {
	return New(Config{Now: func() time.Time { return now }})
}

func ptr(s string) *string { return &s }

func chanAuth(secret, channel string, cd *string) string {
	return signing.AuthorizeChannel("app-key", secret, sid, channel, cd)
}

// refusal is what a test expects of a SubscriptionError; zero: accepted.
type refusal struct {
	typ     string
	status  int
	message string
}

func checkRefusal(t *testing.T, err error, channel string, want refusal) {
	t.Helper()
	if want == (refusal{}) {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	se, ok := errors.AsType[*SubscriptionError](err)
	if !ok {
		t.Fatalf("got %T %v, want a SubscriptionError", err, err)
	}
	got := refusal{se.Type, se.Status, se.Message}
	if se.Channel != channel || got != want {
		t.Fatalf("refusal on %q %+v,\nwant on %q %+v", se.Channel, got, channel, want)
	}
}

func TestChannelNames(t *testing.T) {
	rule := ": use only A-Z a-z 0-9 _ - = @ , . ;"
	long := strings.Repeat("a", 201)
	cases := []struct {
		name string
		max  int
		want refusal
	}{
		{"my-channel", 0, refusal{}},
		{"A-Z_a-z0-9=@,.;", 0, refusal{}},
		{strings.Repeat("a", 200), 0, refusal{}},
		{"foo-private-x", 0, refusal{}}, // public: prefixes are anchored
		{"cache-x", 0, refusal{}},
		{long, 0, refusal{"LimitReached", 400, "Channel name is longer than 200 characters"}},
		{"abcdef", 5, refusal{"LimitReached", 400, "Channel name is longer than 5 characters"}},
		{"", 0, refusal{"InvalidChannel", 400, `Invalid channel name ""` + rule}},
		{"a b", 0, refusal{"InvalidChannel", 400, `Invalid channel name "a b"` + rule}},
		{"a:b", 0, refusal{"InvalidChannel", 400, `Invalid channel name "a:b"` + rule}},
		{"kanal-ü", 0, refusal{"InvalidChannel", 400, `Invalid channel name "kanal-ü"` + rule}},
		{"a\x00b", 0, refusal{"InvalidChannel", 400, `Invalid channel name "a\x00b"` + rule}},
		{"#foo", 0, refusal{"InvalidChannel", 400, "Channel names starting with # are reserved"}},
		{"#", 0, refusal{"InvalidChannel", 400, "Channel names starting with # are reserved"}},
		// A long bad name is quoted cut, within the frame limits.
		{strings.Repeat("é", 150), 400, refusal{"InvalidChannel", 400, `Invalid channel name "` + strings.Repeat("é", 105) + `..."` + rule}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{MaxChannelNameLen: tc.max})
			sub, err := p.Subscribe(testApp(), sid, protocol.SubscribeData{Channel: tc.name}, nil)
			checkRefusal(t, err, tc.name, tc.want)
			if sub.Secret != NoSecret {
				t.Fatalf("public channel reported secret %d", sub.Secret)
			}
		})
	}
}

func TestUserChannel(t *testing.T) {
	p := testPolicy()
	u1 := &User{ID: "u1"}
	cases := []struct {
		channel string
		user    *User
		want    refusal
	}{
		{"#server-to-user-u1", u1, refusal{}},
		{"#server-to-user-u1", nil, refusal{"AuthError", 403, `Subscribing to #server-to-user-u1 requires a connection signed in as user "u1"`}},
		{"#server-to-user-u2", u1, refusal{"AuthError", 403, `Subscribing to #server-to-user-u2 requires a connection signed in as user "u2"`}},
		{"#server-to-user-", u1, refusal{"AuthError", 403, `Subscribing to #server-to-user- requires a connection signed in as user ""`}},
	}
	for _, tc := range cases {
		sub, err := p.Subscribe(testApp(), sid, protocol.SubscribeData{Channel: tc.channel}, tc.user)
		checkRefusal(t, err, tc.channel, tc.want)
		if err == nil && sub.Info.Type != protocol.UserChannel {
			t.Fatalf("%s: type %v", tc.channel, sub.Info.Type)
		}
	}
}

// TestChannelSignatures: every kind of signed channel, signed with each
// secret the app has had, by the right and by the wrong connection.
func TestChannelSignatures(t *testing.T) {
	p := testPolicy()
	cd := `{"user_id":"1","user_info":{"n":"A"}}`
	kinds := []struct {
		channel string
		cd      *string // sent and signed
		user    *User
	}{
		{"private-x", nil, nil},
		{"private-cache-x", nil, nil},
		{"private-encrypted-x", nil, nil},
		{"presence-x", &cd, nil},
		{"presence-x", nil, &User{ID: "me", Info: []byte(`{"n":"Me"}`)}}, // as the signed-in user
	}
	secrets := []struct {
		secret string
		want   int
	}{{primary, 0}, {old, 1}, {expired, NoSecret}, {"never", NoSecret}}
	for _, k := range kinds {
		for _, s := range secrets {
			d := protocol.SubscribeData{Channel: k.channel, ChannelData: k.cd, Auth: chanAuth(s.secret, k.channel, k.cd)}
			sub, err := p.Subscribe(testApp(), sid, d, k.user)
			if sub.Secret != s.want {
				t.Errorf("%s signed with %s: secret %d, want %d", k.channel, s.secret, sub.Secret, s.want)
			}
			if s.want == NoSecret {
				want := refusal{"AuthError", 401, "Invalid signature: expected HMAC SHA256 hex digest of " + signing.ChannelStringToSign(sid, k.channel, k.cd)}
				checkRefusal(t, err, k.channel, want)
				if !errors.Is(err, ErrSignature) {
					t.Errorf("%s signed with %s: %v does not wrap ErrSignature", k.channel, s.secret, err)
				}
				continue
			}
			checkRefusal(t, err, k.channel, refusal{})
			switch {
			case k.user != nil:
				if sub.Member.UserID != "me" || string(sub.Member.UserInfo) != `{"n":"Me"}` {
					t.Errorf("member %+v, want the signed-in user", sub.Member)
				}
			case k.cd != nil:
				if sub.Member.UserID != "1" || string(sub.Member.UserInfo) != `{"n":"A"}` {
					t.Errorf("member %+v, want channel_data's", sub.Member)
				}
			default:
				if sub.Member.UserID != "" || sub.Member.UserInfo != nil {
					t.Errorf("%s: member %+v", k.channel, sub.Member)
				}
			}
		}
		// Signed for another connection.
		other := signing.AuthorizeChannel("app-key", primary, "123.457", k.channel, k.cd)
		_, err := p.Subscribe(testApp(), sid, protocol.SubscribeData{Channel: k.channel, ChannelData: k.cd, Auth: other}, k.user)
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s signed for another socket: %v", k.channel, err)
		}
	}

	// The whole "key:hex" is compared: the right digest under another key fails.
	hex := strings.TrimPrefix(chanAuth(primary, "private-x", nil), "app-key:")
	for _, auth := range []string{"", hex, "other:" + hex, "app-key:" + strings.ToUpper(hex)} {
		if _, err := p.Subscribe(testApp(), sid, protocol.SubscribeData{Channel: "private-x", Auth: auth}, nil); !errors.Is(err, ErrSignature) {
			t.Errorf("auth %q: %v", auth, err)
		}
	}
	// channel_data is not signed for private channels, whatever is sent.
	d := protocol.SubscribeData{Channel: "private-x", ChannelData: ptr(`{"user_id":"1"}`), Auth: chanAuth(primary, "private-x", nil)}
	if _, err := p.Subscribe(testApp(), sid, d, nil); err != nil {
		t.Errorf("private channel with channel_data: %v", err)
	}
	// The expected string is quoted cut.
	long := "presence-" + strings.Repeat("x", 150)
	lcd := `{"user_id":"` + strings.Repeat("u", 200) + `"}`
	_, err := p.Subscribe(testApp(), sid, protocol.SubscribeData{Channel: long, ChannelData: &lcd, Auth: "app-key:0"}, nil)
	want := "Invalid signature: expected HMAC SHA256 hex digest of " + signing.ChannelStringToSign(sid, long, &lcd)[:300] + "..."
	checkRefusal(t, err, long, refusal{"AuthError", 401, want})
}

// TestChannelData: presence members from channel_data, each signed, so the
// content is what is judged.
func TestChannelData(t *testing.T) {
	bad := func(why string) refusal { return refusal{"AuthError", 400, "Invalid channel_data: " + why} }
	info := func(n int) string { return `{"p":"` + strings.Repeat("x", n-len(`{"p":""}`)) + `"}` }
	cases := []struct {
		name   string
		cd     string
		appMax int // the app's user_info limit; 0: the server's (1024)
		want   refusal
		member protocol.Member
	}{
		{"string id", `{"user_id":"1"}`, 0, refusal{}, protocol.Member{UserID: "1"}},
		{"numeric id", `{"user_id":10}`, 0, refusal{}, protocol.Member{UserID: "10"}},
		{"1e1 id", `{"user_id":1e1}`, 0, refusal{}, protocol.Member{UserID: "10"}},
		{"info compacted", `{"user_id":"1","user_info":{ "a" : 1 }}`, 0, refusal{}, protocol.Member{UserID: "1", UserInfo: []byte(`{"a":1}`)}},
		{"null info", `{"user_id":"1","user_info":null}`, 0, refusal{}, protocol.Member{UserID: "1"}},
		{"id of 128", `{"user_id":"` + strings.Repeat("u", 128) + `"}`, 0, refusal{}, protocol.Member{UserID: strings.Repeat("u", 128)}},
		{"id of 129", `{"user_id":"` + strings.Repeat("u", 129) + `"}`, 0, refusal{"LimitReached", 400, "user_id is longer than 128 characters"}, protocol.Member{}},
		{"info of 1024", `{"user_id":"u","user_info":` + info(1024) + `}`, 0, refusal{}, protocol.Member{UserID: "u", UserInfo: []byte(info(1024))}},
		{"info of 1025", `{"user_id":"u","user_info":` + info(1025) + `}`, 0, refusal{"LimitReached", 413, "user_info is larger than 1024 bytes"}, protocol.Member{}},
		{"info over the app's limit", `{"user_id":"u","user_info":` + info(101) + `}`, 100, refusal{"LimitReached", 413, "user_info is larger than 100 bytes"}, protocol.Member{}},
		{"app's limit above the server's", `{"user_id":"u","user_info":` + info(2000) + `}`, 2048, refusal{}, protocol.Member{UserID: "u", UserInfo: []byte(info(2000))}},
		{"empty", ``, 0, bad("channel_data is not valid JSON"), protocol.Member{}},
		{"not JSON", `user 1`, 0, bad("channel_data is not valid JSON"), protocol.Member{}},
		{"array", `[{"user_id":"1"}]`, 0, bad("channel_data must be a JSON object"), protocol.Member{}},
		{"no id", `{"user_info":{}}`, 0, bad("channel_data must contain a user_id"), protocol.Member{}},
		{"null id", `{"user_id":null}`, 0, bad("channel_data must contain a user_id"), protocol.Member{}},
		{"empty id", `{"user_id":""}`, 0, bad("user_id must not be empty"), protocol.Member{}},
		{"boolean id", `{"user_id":true}`, 0, bad("user_id must be a string or an integer"), protocol.Member{}},
		{"fraction id", `{"user_id":1.5}`, 0, bad("user_id must be a string or an integer"), protocol.Member{}},
		{"id beyond 2^53", `{"user_id":9007199254740993}`, 0, bad("user_id must be a string or an integer"), protocol.Member{}},
	}
	p := testPolicy()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := testApp()
			app.MaxUserInfoBytes = tc.appMax
			d := protocol.SubscribeData{Channel: "presence-a", ChannelData: &tc.cd, Auth: chanAuth(primary, "presence-a", &tc.cd)}
			sub, err := p.Subscribe(app, sid, d, nil)
			checkRefusal(t, err, "presence-a", tc.want)
			if sub.Secret != 0 {
				t.Fatalf("secret %d: a signature that verified is reported even when the content is refused", sub.Secret)
			}
			if err == nil && (sub.Member.UserID != tc.member.UserID || string(sub.Member.UserInfo) != string(tc.member.UserInfo)) {
				t.Fatalf("member %+v, want %+v", sub.Member, tc.member)
			}
		})
	}
}

func TestPresenceWithoutChannelData(t *testing.T) {
	p := testPolicy()
	d := protocol.SubscribeData{Channel: "presence-a", Auth: chanAuth(primary, "presence-a", nil)}
	_, err := p.Subscribe(testApp(), sid, d, nil)
	checkRefusal(t, err, "presence-a", refusal{"AuthError", 401, "Presence channel subscriptions need channel_data or a signed-in connection"})
	if errors.Is(err, ErrSignature) {
		t.Fatal("a missing channel_data counted as a bad signature")
	}
	// Checked before the signature: the client learns what to send.
	_, err = p.Subscribe(testApp(), sid, protocol.SubscribeData{Channel: "presence-a"}, nil)
	checkRefusal(t, err, "presence-a", refusal{"AuthError", 401, "Presence channel subscriptions need channel_data or a signed-in connection"})

	big := &User{ID: "me", Info: []byte(`"` + strings.Repeat("x", 1023) + `"`)}
	_, err = p.Subscribe(testApp(), sid, d, big)
	checkRefusal(t, err, "presence-a", refusal{"LimitReached", 413, "user_info is larger than 1024 bytes"})
	// A signed-in connection that sends channel_data joins as channel_data says.
	cd := `{"user_id":"other"}`
	d = protocol.SubscribeData{Channel: "presence-a", ChannelData: &cd, Auth: chanAuth(primary, "presence-a", &cd)}
	if sub, err := p.Subscribe(testApp(), sid, d, &User{ID: "me"}); err != nil || sub.Member.UserID != "other" {
		t.Fatalf("member %+v, %v", sub.Member, err)
	}
}

func TestSignin(t *testing.T) {
	idRule := ": at most 128 characters from A-Z a-z 0-9 _ - = @ , . ;"
	p := testPolicy()
	cases := []struct {
		name    string
		ud      string
		secret  string
		require bool // the app requires sign-in: refusals close
		want    string
		gen     int
	}{
		{"primary", `{"id":"u1"}`, primary, false, "", 0},
		{"previous", `{"id":"u1","user_info":{"n":"A"}}`, old, false, "", 1},
		{"expired", `{"id":"u1"}`, expired, false, "Invalid signature: expected HMAC SHA256 hex digest of " + sid + `::user::{"id":"u1"}`, NoSecret},
		{"wrong", `{"id":"u1"}`, "never", true, "Invalid signature: expected HMAC SHA256 hex digest of " + sid + `::user::{"id":"u1"}`, NoSecret},
		{"not JSON", `u1`, primary, false, "Invalid user_data: user_data is not valid JSON", 0},
		{"array", `["u1"]`, primary, true, "Invalid user_data: user_data must be a JSON object", 0},
		{"no id", `{"user_info":{}}`, primary, false, "Invalid user_data: user_data must contain an id", 0},
		{"numeric id", `{"id":12345}`, primary, false, "Invalid user_data: user_data id must be a non-empty string", 0},
		{"id with a space", `{"id":"a b"}`, primary, false, `Invalid user id "a b"` + idRule, 0},
		{"id of 128", `{"id":"` + strings.Repeat("u", 128) + `"}`, primary, false, "", 0},
		{"id of 129", `{"id":"` + strings.Repeat("u", 129) + `"}`, primary, false, `Invalid user id "` + strings.Repeat("u", 129) + `"` + idRule, 0},
		{"info over 1 KB", `{"id":"u","user_info":{"p":"` + strings.Repeat("x", 1024) + `"}}`, primary, false, "user_info is larger than 1024 bytes", 0},
		{"bad watchlist", `{"id":"u","watchlist":[1]}`, primary, false, "Invalid user_data: user_data watchlist must be an array of strings", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := testApp()
			app.RequireSignin = tc.require
			auth := signing.AuthenticateUser(app.Key, tc.secret, sid, tc.ud)
			s, err := p.Signin(app, sid, protocol.SigninData{UserData: tc.ud, Auth: auth})
			if s.Secret != tc.gen {
				t.Errorf("secret %d, want %d", s.Secret, tc.gen)
			}
			if tc.want == "" {
				if err != nil || s.User == nil {
					t.Fatalf("refused: %v", err)
				}
				u, _ := protocol.ParseUserData(tc.ud)
				if s.User.ID != u.ID || string(s.User.Info) != string(u.UserInfo) || s.Warning != nil {
					t.Fatalf("sign-in %+v, warning %v", s.User, s.Warning)
				}
				return
			}
			pe, ok := errors.AsType[*protocol.Error](err)
			if !ok || pe.Code != protocol.CodeUnauthorized || pe.Message != tc.want || pe.Close != tc.require {
				t.Fatalf("got %#v,\nwant 4009 %q close=%v", err, tc.want, tc.require)
			}
			if s.User != nil {
				t.Fatal("a refused sign-in returned a user")
			}
		})
	}
}

func TestSigninWatchlist(t *testing.T) {
	p := New(Config{MaxWatchlistSize: 3})
	sign := func(ud string) (SignIn, error) {
		return p.Signin(testApp(), sid, protocol.SigninData{UserData: ud, Auth: signing.AuthenticateUser("app-key", primary, sid, ud)})
	}
	s, err := sign(`{"id":"u","watchlist":["a","","b","a","c"]}`)
	if err != nil || strings.Join(s.User.Watchlist, ",") != "a,b,c" || s.Warning != nil {
		t.Fatalf("at the limit after dedupe: %+v %v %v", s.User, s.Warning, err)
	}
	s, err = sign(`{"id":"u","watchlist":["a","b","c","d","e"]}`)
	if err != nil || strings.Join(s.User.Watchlist, ",") != "a,b,c" {
		t.Fatalf("over the limit: %+v %v", s.User, err)
	}
	want := &protocol.Error{Code: protocol.CodeWatchlistLimit, Message: "Watchlist limit exceeded: only the first 3 ids are watched (2 dropped): a,b,c"}
	if s.Warning == nil || *s.Warning != *want {
		t.Fatalf("warning %+v, want %+v", s.Warning, want)
	}
	long := make([]string, 0, 300)
	for i := range 300 {
		long = append(long, `"`+strings.Repeat(string(rune('a'+i%26)), 20)+string(rune('A'+i/26))+`"`)
	}
	p = New(Config{MaxWatchlistSize: 200})
	s, err = sign(`{"id":"u","watchlist":[` + strings.Join(long, ",") + `]}`)
	if err != nil || len(s.User.Watchlist) != 200 || s.Warning == nil || !strings.HasSuffix(s.Warning.Message, "...") ||
		!strings.HasPrefix(s.Warning.Message, "Watchlist limit exceeded: only the first 200 ids are watched (100 dropped): ") {
		t.Fatalf("long watchlist: %d ids, warning %v, %v", len(s.User.Watchlist), s.Warning, err)
	}
}

func TestDedupeDropsRepeatsAndEmptyIDs(t *testing.T) {
	cases := []struct{ in, want []string }{
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"", ""}, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "a"}, []string{"a"}},
		{[]string{"b", "", "a", "b"}, []string{"b", "a"}},
	}
	for _, c := range cases {
		if got := dedupe(c.in); strings.Join(got, ",") != strings.Join(c.want, ",") || len(got) != len(c.want) {
			t.Errorf("dedupe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHubRefusalTexts: the refusals the hub decides from its state keep
// their wire texts.
func TestHubRefusalTexts(t *testing.T) {
	cases := []struct {
		err  *SubscriptionError
		want refusal
	}{
		{AlreadySubscribedAs("presence-num", "10"), refusal{"AuthError", 400, `Already subscribed to presence-num as user "10"`}},
		{TooManyChannels("c", 1000), refusal{"LimitReached", 400, "A connection may hold at most 1000 channels"}},
		{PresenceFull("presence-x", 2), refusal{"LimitReached", 4100, "Presence channel presence-x is full (2 members)"}},
		{Unavailable("news"), refusal{"ServiceUnavailable", 503, "Subscription to news failed: the server cannot reach its cluster state, try again"}},
	}
	for _, tc := range cases {
		checkRefusal(t, tc.err, tc.err.Channel, tc.want)
		if errors.Is(tc.err, ErrSignature) {
			t.Errorf("%q wraps ErrSignature", tc.err.Message)
		}
	}
	app := testApp()
	if e := AlreadySignedIn(app, "u1"); e.Code != 4009 || e.Close || e.Message != `Connection is already signed in as user "u1"` {
		t.Errorf("AlreadySignedIn = %+v", e)
	}
	app.RequireSignin = true
	if e := AlreadySignedIn(app, "u1"); !e.Close {
		t.Errorf("AlreadySignedIn on a require_signin app does not close: %+v", e)
	}
	if e := SigninUnavailable(); e.Code != 4200 || e.Close || e.Message != "Sign-in failed: the server cannot reach its cluster state, try again" {
		t.Errorf("SigninUnavailable = %+v", e)
	}
}
