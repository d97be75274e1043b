-- Live leases (deadline at or after Redis now).
-- KEYS[1] P:nodes
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], string.format('%d', now), '+inf')
