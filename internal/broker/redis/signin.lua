-- SignIn: one signed-in connection of user U on lease M.
-- KEYS[1] P:{A}:users
-- ARGV    pa, M, U, online message ('' = none)
-- Returns 1 when it is U's first in the cluster.
redis.call('HINCRBY', ARGV[1] .. 'un:' .. ARGV[2], ARGV[3], 1)
if redis.call('HINCRBY', KEYS[1], ARGV[3], 1) == 1 then
  if ARGV[4] ~= '' then
    redis.call('SPUBLISH', ARGV[1] .. 'w:' .. ARGV[3], ARGV[4])
  end
  return 1
end
return 0
