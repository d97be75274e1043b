-- Done. KEYS: stream, ids, cursors. ARGV: group, publish id.
-- Acks and deletes the job's entry (whoever holds it) and forgets its id
-- and cursor. Returns the stream's length.
local id = redis.call('HGET', KEYS[2], ARGV[2])
if id then
  redis.pcall('XACK', KEYS[1], ARGV[1], id) -- an error: no group yet, nothing to ack
  redis.call('XDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], ARGV[2])
end
redis.call('HDEL', KEYS[3], ARGV[2])
return redis.call('XLEN', KEYS[1])
