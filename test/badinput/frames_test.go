package badinput

import (
	"strings"
	"testing"
)

const unsupported = ": client events must start with client-"

// TestFrames: Pusher frames that are not what the protocol allows. Each
// is answered with pusher:error (code null) and the connection stays open
// (channels-protocol §3.3, §14); unknown pusher: and pusher_internal:
// events are ignored.
func TestFrames(t *testing.T) {
	long := strings.Repeat("x", 201)
	// A frame of exactly the 100 KiB limit (limits.max_frame_kb).
	atLimit := `{"event":"pusher:foo","data":"` + strings.Repeat("y", 100<<10-len(`{"event":"pusher:foo","data":""}`)) + `"}`
	sub := `{"event":"pusher:subscribe","data":{"auth":"","channel":"frag-ok"}}`
	subE := `{"event":"pusher:subscribe","data":{"channel":"é"}}`
	cut := strings.Index(subE, "é") + 1 // inside the two bytes of é
	rows := []wsRow{
		// Not JSON.
		{name: "invalid JSON", text: `{"event":"pusher:ping"`, want: []string{errFrame("Invalid JSON")}},
		{name: "truncated JSON", text: `{"event":"pusher:subscribe","data":{"channel":"x"`, want: []string{errFrame("Invalid JSON")}},
		{name: "plain text", text: `hello there`, want: []string{errFrame("Invalid JSON")}},
		// nbio does not deliver an empty message; ignoring it is what §14 allows.
		{name: "empty text frame is ignored", text: ``, want: nil},
		{name: "whitespace only", text: " \t\r\n ", want: []string{errFrame("Invalid JSON")}},
		{name: "trailing garbage", text: `{"event":"pusher:foo"} x`, want: []string{errFrame("Invalid JSON")}},
		{name: "two objects in one frame", text: `{"event":"pusher:foo"}{"event":"pusher:foo"}`, want: []string{errFrame("Invalid JSON")}},
		{name: "single-quoted JSON", text: `{'event':'pusher:foo'}`, want: []string{errFrame("Invalid JSON")}},
		{name: "raw NUL byte inside a string", text: "{\"event\":\"pusher:f\x00oo\"}", want: []string{errFrame("Invalid JSON")}},
		{name: "UTF-8 byte order mark", text: "\ufeff{\"event\":\"pusher:foo\"}", want: []string{errFrame("Invalid JSON")}},
		{name: "nesting deeper than 10000", text: `{"event":"pusher:foo","data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
			want: []string{errFrame("Invalid JSON")}},

		// JSON, but not an object.
		{name: "JSON array", text: `[]`, want: []string{errFrame("Message must be a JSON object")}},
		{name: "JSON array holding a frame", text: `[{"event":"pusher:foo"}]`, want: []string{errFrame("Message must be a JSON object")}},
		{name: "JSON number", text: `42`, want: []string{errFrame("Message must be a JSON object")}},
		{name: "JSON string", text: `"pusher:ping"`, want: []string{errFrame("Message must be a JSON object")}},
		{name: "JSON null", text: `null`, want: []string{errFrame("Message must be a JSON object")}},
		{name: "JSON true", text: `true`, want: []string{errFrame("Message must be a JSON object")}},

		// The event member.
		{name: "object without event", text: `{}`, want: []string{errFrame("Missing event name")}},
		{name: "data without event", text: `{"data":{},"channel":"x"}`, want: []string{errFrame("Missing event name")}},
		{name: "event null", text: `{"event":null}`, want: []string{errFrame("Missing event name")}},
		{name: "event empty", text: `{"event":""}`, want: []string{errFrame("Missing event name")}},
		{name: "event a number", text: `{"event":5}`, want: []string{errFrame("Event name must be a string")}},
		{name: "event an object", text: `{"event":{"name":"pusher:ping"}}`, want: []string{errFrame("Event name must be a string")}},
		{name: "event an array", text: `{"event":["pusher:ping"]}`, want: []string{errFrame("Event name must be a string")}},
		{name: "event a boolean", text: `{"event":true}`, want: []string{errFrame("Event name must be a string")}},
		{name: "channel a number", text: `{"event":"client-x","channel":5}`, want: []string{errFrame("Channel must be a string")}},
		{name: "channel an array on pusher:ping", text: `{"event":"pusher:ping","channel":[]}`, want: []string{errFrame("Channel must be a string")}},
		{name: "event without client- prefix", text: `{"event":"hello","data":{}}`, want: []string{errFrame("Unsupported event hello" + unsupported)}},
		{name: "event name over 200 characters", text: `{"event":"` + long + `"}`,
			want: []string{errFrame("Unsupported event " + long[:200] + "..." + unsupported)}},
		{name: "event names are case-sensitive", text: `{"event":"Pusher:ping"}`, want: []string{errFrame("Unsupported event Pusher:ping" + unsupported)}},
		{name: "event with a leading space", text: `{"event":" pusher:ping"}`, want: []string{errFrame("Unsupported event  pusher:ping" + unsupported)}},
		{name: "NUL escape as the event name", text: `{"event":"\u0000"}`, want: []string{errFrame("Unsupported event \x00" + unsupported)}},
		{name: "lone surrogate escape in the event name", text: `{"event":"\ud800"}`, want: []string{errFrame("Unsupported event \ufffd" + unsupported)}},

		// Ignored: unknown pusher: and pusher_internal: events.
		{name: "unknown pusher: event is ignored", text: `{"event":"pusher:foo","data":{}}`},
		{name: "bare pusher: is ignored", text: `{"event":"pusher:"}`},
		{name: "client-sent pusher:error is ignored", text: `{"event":"pusher:error","data":{"code":4001,"message":"x"}}`},
		{name: "client-sent connection_established is ignored", text: `{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.1\",\"activity_timeout\":1}"}`},
		{name: "injected subscription_succeeded is ignored", text: `{"event":"pusher_internal:subscription_succeeded","channel":"private-x","data":"{}"}`},
		{name: "injected member_added is ignored", text: `{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"1\"}"}`},
		{name: "pusher: event over 200 characters is ignored", text: `{"event":"pusher:` + long + `"}`},
		{name: "pusher:ping followed by a NUL escape is not a ping", text: `{"event":"pusher:ping\u0000"}`},
		{name: "repeated event key: the last wins", text: `{"event":"hello","event":"pusher:foo"}`},
		{name: "pusher:pong is activity only", text: `{"event":"pusher:pong","data":{}}`},
		{name: "deep nesting within the limit is ignored", text: `{"event":"pusher:foo","data":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`},
		{name: "huge number in data is ignored", text: `{"event":"pusher:foo","data":1e999999}`},
		{name: "frame of exactly 100 KiB is read", text: atLimit},

		// Binary frames: not part of the protocol; Herald reads them as text
		// (channels-protocol §1 allows this).
		{name: "binary frame is read as text", send: frame(true, opBinary, []byte(`{"event":"pusher:subscribe","data":{"auth":"","channel":"binary-ok"}}`)),
			want: []string{succeeded("binary-ok")}},
		{name: "binary frame with invalid JSON", send: frame(true, opBinary, []byte(`{"event":`)), want: []string{errFrame("Invalid JSON")}},
		{name: "binary frame with invalid UTF-8 in a string", send: frame(true, opBinary, []byte("{\"event\":\"\xff\"}")),
			want: []string{errFrame("Unsupported event \ufffd" + unsupported)}},

		// Fragmented messages that are valid are handled as one message.
		{name: "fragmented message with a ping in between", send: concat(
			frame(false, opText, []byte(sub[:10])),
			frame(false, opCont, []byte(sub[10:30])),
			frame(true, opPing, []byte("hb")),
			frame(true, opCont, []byte(sub[30:]))),
			want: []string{wsPong("hb"), succeeded("frag-ok")}},
		{name: "fragments splitting a UTF-8 character", send: concat(
			frame(false, opText, []byte(subE[:cut])),
			frame(true, opCont, []byte(subE[cut:]))),
			want: refused("é", "InvalidChannel", 400, `Invalid channel name "é": use only A-Z a-z 0-9 _ - = @ , . ;`)},
		{name: "empty first fragment", send: concat(frame(false, opText, nil), frame(true, opCont, []byte(`{"event":"hello"}`))),
			want: []string{errFrame("Unsupported event hello" + unsupported)}},
		{name: "length in a longer encoding than needed is accepted", send: func() []byte {
			p := []byte(`{"event":"pusher:subscribe","data":{"channel":"long-length"}}`)
			b := []byte{0x81, 0x80 | 126, 0, byte(len(p)), 0, 0, 0, 0} // 16-bit length, zero mask
			return append(b, p...)
		}(), want: []string{succeeded("long-length")}},
		{name: "WebSocket ping of 125 bytes", send: frame(true, opPing, []byte(strings.Repeat("p", 125))), want: []string{wsPong(strings.Repeat("p", 125))}},
		{name: "WebSocket ping without payload", send: frame(true, opPing, nil), want: []string{wsPong("")}},
		{name: "unsolicited WebSocket pong is ignored", send: frame(true, opPong, []byte("unasked"))},
	}
	openGroup{}.run(t, rows)
}

// TestWebSocketProtocol: frames that break RFC 6455 end the connection
// with a close frame carrying the code the RFC names (1002 protocol error,
// 1007 invalid text, 1009 too big), after which the server drops the TCP
// connection.
func TestWebSocketProtocol(t *testing.T) {
	t.Parallel()
	const tooBig = "Message larger than 102400 bytes"
	const badUTF8 = "Text frames must be valid UTF-8"
	withRSV := func(bit byte) []byte { f := text(`{}`); f[0] |= bit; return f }
	rows := []closeRow{
		{name: "invalid UTF-8 in a text frame", send: text("{\"event\":\"\xff\xfe\"}"), code: 1007, reason: badUTF8},
		{name: "overlong UTF-8 encoding", send: text("{\"event\":\"\xc0\xaf\"}"), code: 1007, reason: badUTF8},
		{name: "UTF-8 encoded surrogate", send: text("{\"event\":\"\xed\xa0\x80\"}"), code: 1007, reason: badUTF8},
		{name: "invalid UTF-8 across fragments", send: concat(
			frame(false, opText, []byte("{\"event\":\"\xc3")), frame(true, opCont, []byte("(\"}"))), code: 1007, reason: badUTF8},
		{name: "text frame over 100 KiB", send: text(`{"event":"pusher:foo","data":"` + strings.Repeat("x", 100<<10) + `"}`), code: 1009, reason: tooBig},
		{name: "binary frame over 100 KiB", send: frame(true, opBinary, make([]byte, 100<<10+1)), code: 1009, reason: tooBig},
		{name: "two fragments over 100 KiB together", send: concat(
			frame(false, opText, make([]byte, 60<<10)), frame(true, opCont, make([]byte, 60<<10))), code: 1009, reason: tooBig},
		{name: "many small fragments over 100 KiB together", send: func() []byte {
			b := frame(false, opText, make([]byte, 4<<10))
			for range 25 {
				b = append(b, frame(false, opCont, make([]byte, 4<<10))...)
			}
			return b
		}(), code: 1009, reason: tooBig},
		{name: "64-bit length with the top bit set", send: []byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'},
			code: 1009, reason: tooBig},
		{name: "orphan continuation", send: frame(true, opCont, []byte("x")), code: 1002, reason: "Continuation frame without a message to continue"},
		{name: "continuation after a complete message", send: concat(text(`{"event":"pusher:foo"}`), frame(true, opCont, []byte("x"))),
			code: 1002, reason: "Continuation frame without a message to continue"},
		{name: "fragmented ping", send: frame(false, opPing, []byte("x")), code: 1002, reason: "Control frames must not be fragmented"},
		{name: "fragmented pong", send: frame(false, opPong, []byte("x")), code: 1002, reason: "Control frames must not be fragmented"},
		{name: "fragmented close", send: frame(false, opClose, []byte{0x03, 0xe8}), code: 1002, reason: "Control frames must not be fragmented"},
		{name: "ping longer than 125 bytes", send: frame(true, opPing, make([]byte, 126)), code: 1002, reason: "Control frame longer than 125 bytes"},
		{name: "close frame longer than 125 bytes", send: frame(true, opClose, append([]byte{0x03, 0xe8}, make([]byte, 124)...)),
			code: 1002, reason: "Control frame longer than 125 bytes"},
		{name: "reserved data opcode 0x3", send: frame(true, 0x3, []byte("x")), code: 1002, reason: "Reserved opcode"},
		{name: "reserved data opcode 0x7", send: frame(true, 0x7, []byte("x")), code: 1002, reason: "Reserved opcode"},
		{name: "reserved control opcode 0xB", send: frame(true, 0xB, []byte("x")), code: 1002, reason: "Reserved opcode"},
		{name: "reserved control opcode 0xF", send: frame(true, 0xF, nil), code: 1002, reason: "Reserved opcode"},
		{name: "RSV1 bit without an extension", send: withRSV(0x40), code: 1002, reason: "Reserved bits set (no extension was negotiated)"},
		{name: "RSV2 bit", send: withRSV(0x20), code: 1002, reason: "Reserved bits set (no extension was negotiated)"},
		{name: "RSV3 bit", send: withRSV(0x10), code: 1002, reason: "Reserved bits set (no extension was negotiated)"},
		{name: "unmasked client frame", send: []byte{0x81, 0x02, '{', '}'}, code: 1002, reason: "Client frames must be masked"},
		{name: "text frame inside a fragmented message", send: concat(frame(false, opText, []byte("{")), text(`{}`)),
			code: 1002, reason: "New message before the fragmented one ended"},
		{name: "binary frame inside a fragmented message", send: concat(frame(false, opText, []byte("{")), frame(true, opBinary, []byte(`{}`))),
			code: 1002, reason: "New message before the fragmented one ended"},
		{name: "close frame with a one-byte payload", send: frame(true, opClose, []byte{0x03}), code: 1002, reason: ""},
		{name: "close frame with code 1005", send: frame(true, opClose, []byte{0x03, 0xed}), code: 1002, reason: ""},
		{name: "close frame with code 999", send: frame(true, opClose, []byte{0x03, 0xe7}), code: 1002, reason: ""},
		{name: "close frame with a reason that is not UTF-8", send: frame(true, opClose, []byte{0x03, 0xe8, 0xff}), code: 1007, anyReason: true},
		{name: "client close 1000 is echoed", send: frame(true, opClose, []byte{0x03, 0xe8, 'b', 'y', 'e'}), code: 1000, reason: "bye"},
	}
	runCloseRows(t, rows)
}

// TestConnectionRefused: a handshake the server cannot accept is upgraded,
// answered with pusher:error carrying the code, and closed with the same
// code (channels-protocol §4): never a pusher:error with a null code.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	notInCluster := "App key no-such-key not in this cluster. Did you forget to specify the cluster?"
	rows := []closeRow{
		{name: "unknown app key", target: "/app/no-such-key" + pusherQuery,
			before: []string{errCode(4001, notInCluster)}, code: 4001, reason: notInCluster},
		{name: "disabled app", target: "/app/" + disabledKey + pusherQuery,
			before: []string{errCode(4003, "App is disabled")}, code: 4003, reason: "App is disabled"},
		{name: "protocol version 3", target: "/app/" + appKey + "?protocol=3&client=js&version=8.6.0",
			before: []string{errCode(4007, "Unsupported protocol version 3")}, code: 4007, reason: "Unsupported protocol version 3"},
		{name: "protocol version not a number", target: "/app/" + appKey + "?protocol=seven",
			before: []string{errCode(4007, "Unsupported protocol version seven")}, code: 4007, reason: "Unsupported protocol version seven"},
		{name: "empty app key", target: "/app/" + pusherQuery,
			before: []string{errCode(4005, "Path not found: use /app/{key}")}, code: 4005, reason: "Path not found: use /app/{key}"},
		{name: "path below the app key", target: "/app/" + appKey + "/extra" + pusherQuery,
			before: []string{errCode(4005, "Path not found: use /app/{key}")}, code: 4005, reason: "Path not found: use /app/{key}"},
		{name: "trailing slash after the app key", target: "/app/" + appKey + "/" + pusherQuery,
			before: []string{errCode(4005, "Path not found: use /app/{key}")}, code: 4005, reason: "Path not found: use /app/{key}"},
		{name: "double slash before the app key", target: "/app//" + appKey + pusherQuery,
			before: []string{errCode(4005, "Path not found: use /app/{key}")}, code: 4005, reason: "Path not found: use /app/{key}"},
		{name: "dot-dot segment in the path", target: "/app/x/../" + appKey + pusherQuery,
			before: []string{errCode(4005, "Path not found: use /app/{key}")}, code: 4005, reason: "Path not found: use /app/{key}"},
	}
	runCloseRows(t, rows)
}
