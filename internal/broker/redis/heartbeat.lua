-- Heartbeat: set lease M's deadline to Redis now + ttl.
-- KEYS[1] P:nodes
-- ARGV    M, ttl (ms), mode: 'new' (create) or 'renew' (only a live lease)
-- Returns 1, or 0 when renewing a lease that is gone or expired (the
-- node's share may have been reaped or lost: it must register again).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == 'renew' then
  local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not s or tonumber(s) < now then
    return 0
  end
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
return 1
