-- Leave: remove one subscription of lease M from channel C. A lease with
-- no subscription there (its share was lost) changes nothing.
-- KEYS[1] P:{A}:chans
-- ARGV    pa, M, C, presence (1/0), U, head, tail (member_removed),
--         hooks (1: queue the transitions' webhooks; 0: the app has none),
--         queue cap (MAXLEN ~)
-- Returns {member gone, vacated, subscriptions, version}
-- Hooks cost as in join.lua: none unless the leave is a transition;
-- member_removed is queued before channel_vacated.
local pa, m, c = ARGV[1], ARGV[2], ARGV[3]
local chans = KEYS[1]
local subsKey = pa .. 'subs:' .. c
if num(redis.call('HGET', subsKey, m)) <= 0 then
  return {0, 0, num(redis.call('HGET', chans, c)), 0}
end
local gone, version = 0, 0
if ARGV[4] == '1' then
  local u = ARGV[5]
  if hdecr(pa .. 'mn:' .. m .. ':' .. c, u) >= 0 and hdecr(pa .. 'mc:' .. c, u) == 0 then
    redis.call('HDEL', pa .. 'mem:' .. c, u)
    version = bump(pa, c)
    publish(pa .. 'c:' .. c, ARGV[6], version, ARGV[7])
    memberless(pa, c)
    gone = 1
  end
end
if hdecr(subsKey, m) == 0 then
  redis.call('SREM', pa .. 'nc:' .. m, c)
end
local total, vacated = hdecr(chans, c), 0
if total <= 0 then
  total, vacated = 0, 1
end
if gone == 1 or vacated == 1 then
  local on, cap = ARGV[8] == '1', ARGV[9]
  if gone == 1 then
    transition(pa, on, cap, 'member_removed', c, ARGV[5])
  end
  if vacated == 1 then
    transition(pa, on, cap, 'channel_vacated', c, '')
  end
end
return {gone, vacated, total, version}
