module github.com/heraldhq/herald/test/sdkgo

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/pusher/pusher-http-go/v5 v5.1.1
	golang.org/x/crypto v0.0.0-20200709230013-948cd5f35899
)

require golang.org/x/sys v0.0.0-20190412213103-97732733099d // indirect
