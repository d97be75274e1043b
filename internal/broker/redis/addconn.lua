-- AddConnection: count one connection of lease M unless the app holds max.
-- KEYS[1] P:{A}:conns
-- ARGV    M, max (0 = no limit)
-- Returns 1 when counted.
local max = tonumber(ARGV[2])
if max > 0 then
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
    sum = sum + tonumber(v)
  end
  if sum >= max then
    return 0
  end
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
