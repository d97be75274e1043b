package redis

import (
	"embed"

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
	joinScript       = script("join.lua")
	leaveScript      = script("leave.lua")
	signInScript     = script("signin.lua")
	signOutScript    = script("signout.lua")
	addConnScript    = script("addconn.lua")
	removeConnScript = script("removeconn.lua")
	cacheScript      = script("cache.lua")
	allowScript      = script("allow.lua")
	heartbeatScript  = script("heartbeat.lua")
	shareScript      = script("share.lua")
	expiredScript    = readOnlyScript("expired.lua")
	nodesScript      = readOnlyScript("nodes.lua")
	channelsScript   = readOnlyScript("channels.lua")
)

// source is lib.lua followed by the named script.
func source(name string) string {
	lib, err := luaFiles.ReadFile("lib.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(lib) + "\n" + string(body)
}

func script(name string) *rueidis.Lua { return rueidis.NewLuaScript(source(name)) }

func readOnlyScript(name string) *rueidis.Lua { return rueidis.NewLuaScriptReadOnly(source(name)) }
