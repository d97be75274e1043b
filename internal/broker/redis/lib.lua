-- Helpers prepended to every script (scripts.go).

-- num reads a reply that may be nil (false) as a number.
local function num(v)
  return tonumber(v) or 0
end

-- uvarint is Go's binary.AppendUvarint (exact up to 2^53).
local function uvarint(v)
  local out = {}
  while v >= 128 do
    out[#out + 1] = string.char(v % 128 + 128)
    v = math.floor(v / 128)
  end
  out[#out + 1] = string.char(v)
  return table.concat(out)
end

-- bump gives channel c of app prefix pa a new member version: above the
-- last one and above the Redis clock in microseconds, so versions keep
-- growing across a vacated channel (the key then expires after an hour)
-- and across a Redis restart that lost it.
local function bump(pa, c)
  local key = pa .. 'mv:' .. c
  local v = num(redis.call('GET', key)) + 1
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if now > v then v = now end
  redis.call('SET', key, string.format('%d', v))
  return v
end

-- publish sends head .. uvarint(version) .. tail on topic unless head is
-- empty (no frame for this transition).
local function publish(topic, head, version, tail)
  if head ~= '' then
    redis.call('SPUBLISH', topic, head .. uvarint(version) .. tail)
  end
end

-- hdecr lowers field f of hash h by one, deleting it at zero. It returns
-- the new value, or -1 when the field was missing (nothing changed).
local function hdecr(h, f)
  local v = num(redis.call('HGET', h, f))
  if v <= 0 then
    return -1
  end
  v = v - 1
  if v == 0 then
    redis.call('HDEL', h, f)
  else
    redis.call('HSET', h, f, v)
  end
  return v
end

-- memberless lets an empty presence channel's version key expire.
local function memberless(pa, c)
  if redis.call('EXISTS', pa .. 'mem:' .. c) == 0 then
    redis.call('PEXPIRE', pa .. 'mv:' .. c, 3600000)
  end
end

-- Webhook queue (hooks.go). hookMS is the Redis clock in ms, read once
-- per script run: the transitions of one step share a time.
local hookMS
local function hook(pa, cap, kind, c, u)
  if not hookMS then
    local t = redis.call('TIME')
    hookMS = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  end
  if u == '' then
    redis.call('XADD', pa .. 'wh', 'MAXLEN', '~', cap, '*', 'k', kind, 'c', c, 't', hookMS)
  else
    redis.call('XADD', pa .. 'wh', 'MAXLEN', '~', cap, '*', 'k', kind, 'c', c, 'u', u, 't', hookMS)
  end
end

-- hookMarked: P:{A}:hk was written in this run. Written once per
-- transition-making run, so the flag follows the app's last transition.
local hookMarked = false

-- transition queues a join's or leave's transition when on (the request
-- asked for hooks), and records in P:{A}:hk whether it did, which is what
-- reaped and re-synced transitions follow (share.lua).
local function transition(pa, on, cap, kind, c, u)
  if not hookMarked then
    hookMarked = true
    if on then
      redis.call('SET', pa .. 'hk', '1')
    else
      redis.call('DEL', pa .. 'hk')
    end
  end
  if on then
    hook(pa, cap, kind, c, u)
  end
end
