module github.com/heraldhq/herald/test/sdkgo

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/heraldhq/herald/pusher v0.0.0
	github.com/pusher/pusher-http-go/v5 v5.1.1
	golang.org/x/crypto v0.45.0
)

require golang.org/x/sys v0.38.0 // indirect

replace github.com/heraldhq/herald/pusher => ../../pusher
