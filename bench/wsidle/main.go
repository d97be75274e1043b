// Command wsidle measures server memory per idle, subscribed WebSocket
// connection for several transport implementations.
//
// Subcommands:
//
//	wsidle server -impl=nbio-std -addr=127.0.0.1:0   # prints "LISTEN <addr>", answers "stats" on stdin
//	wsidle client -addr=127.0.0.1:port -n=9500       # prints "READY <ok> <failed>" then idles
//	wsidle run -impl=nbio-std -n=19000 -clients=2    # orchestrates server + clients in separate processes
//	wsidle run -impl=herald -herald-bin=/tmp/herald  # the real server, measured from outside (herald.go)
//
// See README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = serverMain(os.Args[2:])
	case "client":
		err = clientMain(os.Args[2:])
	case "run":
		err = runMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsidle:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wsidle server|client|run [flags]  (see bench/wsidle/README.md)")
	os.Exit(2)
}
