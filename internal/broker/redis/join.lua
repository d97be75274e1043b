-- Join: one subscription of lease M in channel C (presence: as member U).
-- KEYS[1] P:{A}:chans
-- ARGV    pa, M, C, add (1: count it; 0: only read the state, the socket
--         is counted already), presence (1/0), U, info, max members (0 none),
--         head, tail (member_added message around its version; head '' = none),
--         hooks (1: queue the transitions' webhooks; 0: the app has none),
--         queue cap (MAXLEN ~)
-- Returns {full, occupied, new member, subscriptions, version, {U, info, ...}}
-- Hooks cost: a join that changes no cluster-wide state (the usual one)
-- runs no command for them. A transition writes P:{A}:hk once (DEL
-- without hooks: nothing more), and with hooks adds one TIME and one XADD
-- per hook: channel_occupied, then member_added.
local pa, m, c = ARGV[1], ARGV[2], ARGV[3]
local chans = KEYS[1]
local presence = ARGV[5] == '1'
local memKey = pa .. 'mem:' .. c
local occupied, newMember = 0, 0
if ARGV[4] == '1' then
  if presence then
    local u = ARGV[6]
    local mc = pa .. 'mc:' .. c
    local cur = num(redis.call('HGET', mc, u))
    if cur <= 0 then
      local max = tonumber(ARGV[8])
      if max > 0 and redis.call('HLEN', memKey) >= max then
        return {1, 0, 0, num(redis.call('HGET', chans, c)), 0, {}}
      end
      cur = 0
    end
    redis.call('HSET', mc, u, cur + 1)
    redis.call('HINCRBY', pa .. 'mn:' .. m .. ':' .. c, u, 1)
    if cur == 0 then
      redis.call('HSET', memKey, u, ARGV[7])
      publish(pa .. 'c:' .. c, ARGV[9], bump(pa, c), ARGV[10])
      newMember = 1
    end
  end
  redis.call('HINCRBY', pa .. 'subs:' .. c, m, 1)
  if redis.call('HINCRBY', chans, c, 1) == 1 then
    occupied = 1
  end
  redis.call('SADD', pa .. 'nc:' .. m, c)
  if occupied == 1 or newMember == 1 then
    local on, cap = ARGV[11] == '1', ARGV[12]
    if occupied == 1 then
      transition(pa, on, cap, 'channel_occupied', c, '')
    end
    if newMember == 1 then
      transition(pa, on, cap, 'member_added', c, ARGV[6])
    end
  end
end
local total = num(redis.call('HGET', chans, c))
if not presence then
  return {0, occupied, 0, total, 0, {}}
end
return {0, occupied, newMember, total, num(redis.call('GET', pa .. 'mv:' .. c)), redis.call('HGETALL', memKey)}
