// Package loadgen is the load generator behind `herald bench`. It speaks the
// Pusher Channels protocol 7 over WebSocket and signs HTTP API calls like an
// app backend, so it works against Herald or any Pusher-compatible server.
//
// Connections are cheap: each one is dialled and upgraded with a blocking
// net.Conn (bounded concurrency), then handed to an nbio engine whose few
// poller goroutines read every socket. There is no goroutine per connection
// and no per-connection read buffer; a connection keeps bytes only while a
// frame is split across reads. With Target.TLS the same holds: the TLS
// handshake is blocking too, then nbio's TLS (llib) decrypts on the pollers
// (tls.go); the HTTP API then uses https.
//
// Scenarios: Idle, Fanout, Presence, API and Connect. Each returns a result
// struct that marshals to JSON and prints as a table (WriteTable).
package loadgen
