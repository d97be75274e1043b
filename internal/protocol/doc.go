// Package protocol is the Pusher Channels protocol 7 wire format: decoding
// client frames and their data payloads, encoding server frames, close and
// error codes, and channel-name rules. It does no I/O and holds no state, so
// the WebSocket edge, the hub and the HTTP API share one definition of every
// byte on the wire.
//
// Server frames follow the hosted-Pusher shape: "data" is a JSON string
// (string-encoded JSON) everywhere except pusher:error and
// pusher:subscription_error, whose data is an object, because stricter
// clients (Java, Swift) reject anything else.
package protocol
