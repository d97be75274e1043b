-- Drop an unreadable entry. KEYS: stream, ids, cursors.
-- ARGV: group, entry id, publish id ("" when unknown).
redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], ARGV[3]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[3])
  redis.call('HDEL', KEYS[3], ARGV[3])
end
return redis.call('XLEN', KEYS[1])
