// Package sdkgo runs both Go server SDKs against a real Herald: the official
// github.com/pusher/pusher-http-go/v5 and Herald's own SDK, the
// github.com/heraldhq/herald/pusher module of this repository (../../pusher,
// through a replace). Herald is the binary built from ../../cmd/herald, started
// by TestMain with a generated config on a free loopback port.
//
// It is a module of its own so that the server's go.mod never lists the
// official SDK. It does not import the server's packages either: with a
// replace of the root module its go.sum would have to repeat the root's whole
// dependency graph and would go stale at every dependency change there. The
// server is built in the root module, with the root's own go.mod and go.sum;
// the pusher module has its own go.mod and imports nothing of the server.
//
// Run it with `cd test/sdkgo && go test -race ./...` (make test-go does).
package sdkgo
