module github.com/heraldhq/herald/examples/chat

go 1.24.0

require github.com/heraldhq/herald/pusher v0.0.0

require (
	golang.org/x/crypto v0.45.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
)

// The SDK of this repository, not a published version.
replace github.com/heraldhq/herald/pusher => ../../pusher
