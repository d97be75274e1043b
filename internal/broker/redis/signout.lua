-- SignOut: undo one SignIn of user U on lease M (none there: no change).
-- KEYS[1] P:{A}:users
-- ARGV    pa, M, U, offline message ('' = none)
-- Returns 1 when it was U's last in the cluster.
if hdecr(ARGV[1] .. 'un:' .. ARGV[2], ARGV[3]) < 0 then
  return 0
end
if hdecr(KEYS[1], ARGV[3]) == 0 then
  if ARGV[4] ~= '' then
    redis.call('SPUBLISH', ARGV[1] .. 'w:' .. ARGV[3], ARGV[4])
  end
  return 1
end
return 0
