-- Enqueue. KEYS: stream, ids, cursors.
-- ARGV: max jobs, publish id, instance, users ("1"/"0"), accepted (unix ns
-- or ""), body, cursor.
-- Returns {status, length}: status 1 stored, 0 full, -1 duplicate id.
local n = redis.call('XLEN', KEYS[1])
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return {-1, n}
end
if n >= tonumber(ARGV[1]) then
  return {0, n}
end
local id
if ARGV[7] == '' then
  id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'i', ARGV[3], 'u', ARGV[4], 'a', ARGV[5], 'b', ARGV[6])
else
  -- The cursor goes in the entry (what a first read uses) and in the
  -- cursor hash (what Progress changes and the other reads use).
  id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[2], 'i', ARGV[3], 'u', ARGV[4], 'a', ARGV[5], 'b', ARGV[6], 'c', ARGV[7])
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[7])
end
redis.call('HSET', KEYS[2], ARGV[2], id)
return {1, n + 1}
