-- AckHooks: remove delivered entries of app A's webhook queue, only while
-- the node holds the app's hook lease. An ack of a node that lost it could
-- land between two reads of the new holder and hide a join from it, which
-- would then send the leave that join cancelled.
-- KEYS[1] P:{A}:wh
-- ARGV    P:{A}:whlease, node id, entry ids...
-- Returns how many entries were removed (0 when the lease is not the node's).
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return 0
end
local n = 0
for i = 3, #ARGV, 1000 do -- unpack has a stack limit
  n = n + redis.call('XDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return n
