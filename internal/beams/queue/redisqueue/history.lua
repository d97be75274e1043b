-- The next job consumer already held before (a restart with the same
-- consumer name). KEYS: stream, cursors.
-- ARGV: group, consumer, after ("-" or "(" .. entry id).
-- Returns {id, fields, cursor} with its idle time reset; {} when consumer
-- holds nothing more; {after} to call again (deleted entries skipped).
local after = ARGV[3]
for _ = 1, 100 do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], after, '+', 1, ARGV[2])
  if #p == 0 then
    return {}
  end
  local id = p[1][1]
  -- XCLAIM to self: the entry and a fresh idle time in one step. A deleted
  -- entry is not returned (and leaves the pending list).
  local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
  if e[1] then
    return entry(KEYS[2], e[1])
  end
  after = '(' .. id
end
return {after}
