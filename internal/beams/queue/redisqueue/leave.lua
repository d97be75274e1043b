-- leave removes this node's consumer from the group when it holds no entry,
-- so restarts under new names do not pile up dead consumers. A consumer
-- that still holds entries stays: deleting it would make them unclaimable.
-- KEYS[1] stream; ARGV[1] group, ARGV[2] consumer. Returns 1 if removed.
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(p) ~= 'table' or p.err or #p > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
