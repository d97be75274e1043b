-- Allow: take a token from bucket KEYS[1] (Redis clock); a new bucket is
-- full.
-- ARGV    rate (tokens per second, > 0), capacity
-- Returns {1, 0} when taken, else {0, microseconds until one is due}.
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(h[1]) or capacity
local ts = tonumber(h[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local ok, wait = 0, 0
if tokens >= 1 then
  tokens, ok = tokens - 1, 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
-- Keep the bucket until it would be full again.
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 1000 / rate) + 1000)
return {ok, wait}
