// Package test holds Herald's black-box wire-level tests. Each test starts
// the real server in-process on 127.0.0.1:0 (server.Run with the bound
// address reported through Options.OnListen) and drives it the way clients
// in the field do: a raw RFC 6455 WebSocket client speaking Pusher protocol 7
// with URLs exactly like pusher-js builds them, and plain net/http requests
// signed with internal/signing, as the server SDKs sign them.
//
// Conventions: every wait has a deadline, conditions are polled instead of
// slept for, and "nothing was sent" is proved by a ping/pong round trip on
// the same connection (frames of one connection arrive in order), never by
// waiting for silence. The JavaScript official-client tests live in compat/.
package test
