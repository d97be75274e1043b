// Package signing holds every HMAC-SHA256 scheme of the Pusher Channels
// protocol: channel authorization, user authentication, REST request signing
// and webhook signing, plus the per-channel key of encrypted channels.
//
// The server and the Go SDK both use this package, so a signature the SDK
// produces is checked by exactly the code that will verify it in production.
// Every verification compares in constant time, and no error text ever
// contains a secret.
package signing
