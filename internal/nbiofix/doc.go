// Package nbiofix works around two problems of the nbio poller engine
// (v1.6.8) that both the WebSocket edge and the load generator use: a
// start-up race that can make Engine.Stop hang (start.go), and descriptors
// duplicated without close-on-exec (cloexec.go).
package nbiofix
