-- Progress. KEYS: stream, ids, cursors.
-- ARGV: group, consumer, publish id, cursor ("" clears it).
-- Records the cursor only while consumer holds the job, and resets the
-- job's idle time. Returns 1 recorded, 0 unknown id, -1 not held by
-- consumer (taken over by another node, or never handed out).
local id = redis.call('HGET', KEYS[2], ARGV[3])
if not id then
  return 0
end
if owner(KEYS[1], ARGV[1], id) ~= ARGV[2] then
  return -1
end
touch(KEYS[1], ARGV[1], ARGV[2], id)
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[3], ARGV[3])
else
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
end
return 1
