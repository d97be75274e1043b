-- Channels: occupied channels whose names start with ARGV[2].
-- KEYS[1] P:{A}:chans
-- ARGV    pa, prefix
-- Returns {C, subscriptions, members, ...}
local pa, prefix = ARGV[1], ARGV[2]
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local c = all[i]
  if string.sub(c, 1, #prefix) == prefix then
    out[#out + 1] = c
    out[#out + 1] = tonumber(all[i + 1])
    out[#out + 1] = redis.call('HLEN', pa .. 'mem:' .. c)
  end
end
return out
