package redisqueue

import (
	"embed"

	"github.com/redis/rueidis"
)

// Each script touches the queue's keys only (one hash tag), passed in
// KEYS so Redis Cluster routes it to their slot. rueidis runs them with
// EVALSHA, and EVAL once after Redis lost its script cache.
//
//go:embed *.lua
var luaFiles embed.FS

var (
	enqueueScript  = script("enqueue.lua")
	doneScript     = script("done.lua")
	dropScript     = script("drop.lua")
	progressScript = script("progress.lua")
	refreshScript  = script("refresh.lua")
	historyScript  = script("history.lua")
	claimScript    = script("claim.lua")
	leaveScript    = script("leave.lua")
)

// script is lib.lua followed by the named script.
func script(name string) *rueidis.Lua {
	return rueidis.NewLuaScript(mustRead("lib.lua") + "\n" + mustRead(name))
}

func mustRead(name string) string {
	b, err := luaFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
