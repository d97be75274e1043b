package badinput

import (
	"fmt"
	"strings"
	"testing"
)

// clientEvent is a relayed client event as the peer must see it; data ""
// means no data key.
func clientEvent(event, channel, data string) string {
	if data == "" {
		return fmt.Sprintf(`{"event":%s,"channel":%s}`, quote(event), quote(channel))
	}
	return fmt.Sprintf(`{"event":%s,"channel":%s,"data":%s}`, quote(event), quote(channel), quote(data))
}

// TestClientEvents: client events the protocol does not allow
// (channels-protocol §9.5). Each refusal is a pusher:error with code null,
// the connection stays open, and nothing reaches the peer subscribed to
// the same private channel; the allowed ones reach the peer and are not
// echoed to the sender.
func TestClientEvents(t *testing.T) {
	name200 := "client-" + strings.Repeat("n", 193)
	name201 := name200 + "n"
	data10K := strings.Repeat("d", 10<<10)
	rows := []wsRow{
		{name: "on a public channel", text: `{"event":"client-x","channel":"ce-public","data":{}}`,
			want: []string{errFrame("Client events are only allowed on private and presence channels")}},
		{name: "on a public channel not subscribed", text: `{"event":"client-x","channel":"elsewhere","data":{}}`,
			want: []string{errFrame("Client events are only allowed on private and presence channels")}},
		{name: "on a user channel", text: `{"event":"client-x","channel":"#server-to-user-x","data":{}}`,
			want: []string{errFrame("Client events are only allowed on private and presence channels")}},
		{name: "on an encrypted channel", text: `{"event":"client-x","channel":"private-encrypted-ce","data":{}}`,
			want: []string{errFrame("Client events are not allowed on encrypted channels")}},
		{name: "on a private channel not subscribed", text: `{"event":"client-x","channel":"private-ce-other","data":{}}`,
			want: []string{errFrame("Client event on private-ce-other rejected: not subscribed to it")}},
		{name: "on a presence channel not subscribed", text: `{"event":"client-x","channel":"presence-ce-other","data":{}}`,
			want: []string{errFrame("Client event on presence-ce-other rejected: not subscribed to it")}},
		{name: "on a channel name with a NUL", text: `{"event":"client-x","channel":"private-\u0000"}`,
			want: []string{errFrame("Client event on private-\x00 rejected: not subscribed to it")}},
		{name: "without a channel", text: `{"event":"client-x","data":{}}`,
			want: []string{errFrame("Client event client-x has no channel")}},
		{name: "with channel null", text: `{"event":"client-x","channel":null}`,
			want: []string{errFrame("Client event client-x has no channel")}},
		{name: "name without the client- prefix", text: `{"event":"hello","channel":"private-ce","data":{}}`,
			want: []string{errFrame("Unsupported event hello" + unsupported)}},
		{name: "name with Client- in another case", text: `{"event":"Client-x","channel":"private-ce","data":{}}`,
			want: []string{errFrame("Unsupported event Client-x" + unsupported)}},
		{name: "name over 200 characters", text: `{"event":"` + name201 + `","channel":"private-ce"}`,
			want: []string{errFrame("Event name is too long")}},
		{name: "data over 10 KB", text: `{"event":"client-x","channel":"private-ce","data":"` + data10K + `d"}`,
			want: []string{errFrame("Client event data is larger than the app's limit")}},
		{name: "object data over 10 KB once serialised", text: `{"event":"client-x","channel":"private-ce","data":{"d":"` + data10K + `"}}`,
			want: []string{errFrame("Client event data is larger than the app's limit")}},

		// Allowed: relayed to the peer, never echoed.
		{name: "valid client event with object data", text: `{"event":"client-ok","channel":"private-ce","data":{ "a" : 1 }}`,
			relayed: []string{clientEvent("client-ok", "private-ce", `{"a":1}`)}},
		{name: "valid client event without data", text: `{"event":"client-ok","channel":"private-ce"}`,
			relayed: []string{clientEvent("client-ok", "private-ce", "")}},
		{name: "forged user_id is not relayed", text: `{"event":"client-ok","channel":"private-ce","data":"x","user_id":"forged"}`,
			relayed: []string{clientEvent("client-ok", "private-ce", "x")}},
		{name: "name of exactly 200 characters", text: `{"event":"` + name200 + `","channel":"private-ce"}`,
			relayed: []string{clientEvent(name200, "private-ce", "")}},
		{name: "data of exactly 10 KB", text: `{"event":"client-ok","channel":"private-ce","data":"` + data10K + `"}`,
			relayed: []string{clientEvent("client-ok", "private-ce", data10K)}},
		{name: "valid client event on a presence channel", text: `{"event":"client-ok","channel":"presence-ce","data":{}}`},
	}
	openGroup{
		setup: func(t *testing.T, c *rawConn) {
			expectSetup(t, c, subscribeFrame("private-ce", auth(c.sid, "private-ce", nil), nil), succeeded("private-ce"))
			expectSetup(t, c, subscribeFrame("private-encrypted-ce", auth(c.sid, "private-encrypted-ce", nil), nil), succeeded("private-encrypted-ce"))
			expectSetup(t, c, subscribeFrame("ce-public", "", nil), succeeded("ce-public"))
			cd := `{"user_id":"sender"}`
			expectSetup(t, c, subscribeFrame("presence-ce", auth(c.sid, "presence-ce", &cd), &cd), presenceSucceeded("presence-ce", "sender", "null"))
		},
		peer: func(t *testing.T) *rawConn {
			p := dialGroupConn(t)
			if err := p.write(text(subscribeFrame("private-ce", auth(p.sid, "private-ce", nil), nil))); err != nil {
				t.Fatal(err)
			}
			got, err := p.syncFrames()
			if err != nil || !sameFrames(got, []string{succeeded("private-ce")}) {
				_ = p.conn.Close()
				t.Fatalf("peer setup: %q %v", got, err)
			}
			return p
		},
	}.run(t, rows)
}

// TestClientEventRateLimit: more than 10 client events a second on one
// connection are refused one by one with pusher:error 4301, and the
// connection stays open (channels-protocol §5.2, §9.5).
func TestClientEventRateLimit(t *testing.T) {
	c := connectRaw(t)
	if err := c.write(text(subscribeFrame("private-rate", auth(c.sid, "private-rate", nil), nil))); err != nil {
		t.Fatal(err)
	}
	if got, err := c.syncFrames(); err != nil || !sameFrames(got, []string{succeeded("private-rate")}) {
		t.Fatalf("subscribe: %q %v", got, err)
	}
	// 15 in one write: the first 10 use the burst, and a refill of five
	// tokens would take 500 ms.
	var burst []byte
	for i := range 15 {
		burst = append(burst, text(fmt.Sprintf(`{"event":"client-burst","channel":"private-rate","data":"%d"}`, i))...)
	}
	if err := c.write(burst); err != nil {
		t.Fatal(err)
	}
	got, err := c.syncFrames()
	if err != nil {
		t.Fatalf("the connection must stay open: %v", err)
	}
	limited := errCode(4301, "Client event rejected: more than the allowed client events per second")
	if len(got) == 0 || len(got) > 5 {
		t.Errorf("want 1 to 5 refusals (4301) for 15 events in a burst, got %d: %s", len(got), list(got))
	}
	for _, f := range got {
		if !sameFrames([]string{f}, []string{limited}) {
			t.Errorf("want %s, got %s", limited, f)
		}
	}
	checkBystander(t)
}
