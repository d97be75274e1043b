-- Hook lease: who delivers app A's webhook queue.
-- KEYS[1] P:{A}:whlease
-- ARGV    node id, ttl (ms), mode: 'claim' (renew our lease, or take a free
--         one) or 'release' (drop ours)
-- Returns 1 when the node renewed its lease, 2 when it took a free one (it
-- may have held it before: then it lapsed in between, and another node may
-- have delivered from the queue meanwhile), 0 when it does not hold it.
local v = redis.call('GET', KEYS[1])
if ARGV[3] == 'claim' then
  if v == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
  end
  if v then
    return 0
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
if v == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
