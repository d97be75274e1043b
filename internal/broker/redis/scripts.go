package redis

import (
	"crypto/sha1"
	"embed"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// The scripts run with EVALSHA (EVAL once after Redis lost its script
// cache). Each one touches the keys of a single app (one hash tag) or
// P:nodes only, passes one of them as KEYS[1] so the call is routed to
// the slot's server, and reads the others from the app prefix in ARGV.
//
//go:embed *.lua
var luaFiles embed.FS

var (
	joinScript       = script("join.lua", false)
	leaveScript      = script("leave.lua", false)
	signInScript     = script("signin.lua", false)
	signOutScript    = script("signout.lua", false)
	addConnScript    = script("addconn.lua", false)
	removeConnScript = script("removeconn.lua", false)
	cacheScript      = script("cache.lua", false)
	allowScript      = script("allow.lua", false)
	heartbeatScript  = script("heartbeat.lua", false)
	shareScript      = script("share.lua", false)
	hookLeaseScript  = script("hooklease.lua", false)
	expiredScript    = script("expired.lua", true)
	nodesScript      = script("nodes.lua", true)
	channelsScript   = script("channels.lua", true)
)

// lib holds the helpers every script starts with.
var lib = mustRead("lib.lua")

// hookLeaseSHA is hooklease.lua's EVALSHA digest: ClaimHooks pipelines
// many runs of it (rueidis's ExecMulti would load it on every server
// first, one more round trip per call).
var hookLeaseSHA = digest("hooklease.lua")

// script is lib.lua followed by the named script; a read-only one runs
// with EVALSHA_RO.
func script(name string, readOnly bool) *rueidis.Lua {
	src := lib + "\n" + mustRead(name)
	if readOnly {
		return rueidis.NewLuaScriptReadOnly(src)
	}
	return rueidis.NewLuaScript(src)
}

// digest is the SHA-1 Redis names the script by (its source as script
// builds it).
func digest(name string) string {
	sum := sha1.Sum([]byte(lib + "\n" + mustRead(name)))
	return hex.EncodeToString(sum[:])
}

func mustRead(name string) string {
	b, err := luaFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
