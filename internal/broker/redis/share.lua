-- Share: move one app's share of the cluster state from lease OLD to lease
-- NEW, and report the cluster-wide transitions this causes. Used to reap a
-- dead lease (NEW = '') and to register a node's share again (OLD = the
-- node's previous lease, whose leftovers go away in the same steps, so
-- counts never drop to zero in between and nothing flaps).
-- KEYS[1] P:{A}:chans
-- ARGV    pa, OLD ('' none), NEW ('' none), budget, final (1/0),
--         NEW's counted connections ('' = leave as is), queue cap (MAXLEN ~),
--         n, then n channel records: C, subscriptions, k, then k members: U, connections, info
--         u, then u user records: U, signed-in connections
-- The listed channels and users get NEW's values and lose OLD's. When
-- final, OLD's other channels and users (at most budget of them per call)
-- and its counted connections are removed too.
-- Returns {more (final: OLD has leftovers, call again), then 7 fields per
-- transition: kind, C, U, info, count, version, queued}; kinds are
-- broker.ChangeKind: 1 MemberGone, 2 Vacated, 3 Offline, 4 CountChanged,
-- 5 MemberBack, 6 Occupied, 7 Online. queued is 1 when the transition's
-- webhook was queued: the app's last join or leave transition asked for
-- hooks (P:{A}:hk, read once, at the first transition that has a webhook).
local pa, old, new = ARGV[1], ARGV[2], ARGV[3]
local chans = KEYS[1]
local out = {0}
local hookKinds = {[1] = 'member_removed', [2] = 'channel_vacated', [5] = 'member_added', [6] = 'channel_occupied'}
local hooksOn -- nil: P:{A}:hk not read yet
local function change(kind, c, u, info, count, version)
  local queued = 0
  local hk = hookKinds[kind]
  if hk then
    if hooksOn == nil then
      hooksOn = redis.call('GET', pa .. 'hk') == '1'
    end
    if hooksOn then
      hook(pa, ARGV[7], hk, c, u)
      queued = 1
    end
  end
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5], out[n + 6], out[n + 7] =
    kind, c, u, info, count, version, queued
end

-- moveChannel gives NEW subs subscriptions and the members in list (U,
-- connections, info triples) in channel c, and removes OLD's.
local function moveChannel(c, subs, list)
  local subsKey = pa .. 'subs:' .. c
  local oldSubs = 0
  if old ~= '' then
    oldSubs = num(redis.call('HGET', subsKey, old))
    redis.call('HDEL', subsKey, old)
    redis.call('SREM', pa .. 'nc:' .. old, c)
  end
  if subs > 0 then
    redis.call('HINCRBY', subsKey, new, subs)
    redis.call('SADD', pa .. 'nc:' .. new, c)
  end
  local before = num(redis.call('HGET', chans, c))
  local after = before + subs - oldSubs
  if after > 0 and before <= 0 then
    change(6, c, '', '', 0, 0)
  end

  -- Members: OLD's connections out, NEW's in, per user.
  local delta, info, order = {}, {}, {}
  if old ~= '' then
    local key = pa .. 'mn:' .. old .. ':' .. c
    local f = redis.call('HGETALL', key)
    for i = 1, #f, 2 do
      delta[f[i]] = -tonumber(f[i + 1])
      order[#order + 1] = f[i]
    end
    redis.call('DEL', key)
  end
  if #list > 0 then
    local key = pa .. 'mn:' .. new .. ':' .. c
    for i = 1, #list, 3 do
      local u, n = list[i], tonumber(list[i + 1])
      redis.call('HINCRBY', key, u, n)
      if delta[u] == nil then
        delta[u] = 0
        order[#order + 1] = u
      end
      delta[u] = delta[u] + n
      info[u] = list[i + 2]
    end
  end
  if #order > 0 then
    local mc, memKey = pa .. 'mc:' .. c, pa .. 'mem:' .. c
    for _, u in ipairs(order) do
      local d = delta[u]
      if d ~= 0 then
        local b = num(redis.call('HGET', mc, u))
        local a = b + d
        if a <= 0 then
          redis.call('HDEL', mc, u)
          if b > 0 then
            redis.call('HDEL', memKey, u)
            change(1, c, u, '', 0, bump(pa, c))
          end
        else
          redis.call('HSET', mc, u, a)
          if b <= 0 then
            redis.call('HSET', memKey, u, info[u])
            change(5, c, u, info[u], 0, bump(pa, c))
          end
        end
      end
    end
    memberless(pa, c)
  end

  if after <= 0 then
    redis.call('HDEL', chans, c)
    if before > 0 then
      change(2, c, '', '', 0, 0)
    end
  elseif after ~= before then
    redis.call('HSET', chans, c, after)
    change(4, c, '', '', after, 0)
  end
end

-- moveUser gives NEW n signed-in connections of user u and removes OLD's.
local function moveUser(u, n)
  local was = 0
  if old ~= '' then
    local key = pa .. 'un:' .. old
    was = num(redis.call('HGET', key, u))
    redis.call('HDEL', key, u)
  end
  if n > 0 then
    redis.call('HINCRBY', pa .. 'un:' .. new, u, n)
  end
  if n == was then
    return
  end
  local key = pa .. 'users'
  local b = num(redis.call('HGET', key, u))
  local a = b + n - was
  if a <= 0 then
    redis.call('HDEL', key, u)
    if b > 0 then
      change(3, '', u, '', 0, 0)
    end
  else
    redis.call('HSET', key, u, a)
    if b <= 0 then
      change(7, '', u, '', 0, 0)
    end
  end
end

if new ~= '' and ARGV[6] ~= '' then
  local n = tonumber(ARGV[6])
  if n > 0 then
    redis.call('HSET', pa .. 'conns', new, n)
  else
    redis.call('HDEL', pa .. 'conns', new)
  end
end

local i = 9
for _ = 1, tonumber(ARGV[8]) do
  local c, subs, k = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local list = {}
  for j = 1, k * 3 do
    list[j] = ARGV[i + 2 + j]
  end
  moveChannel(c, subs, list)
  i = i + 3 + k * 3
end
local nu = tonumber(ARGV[i])
i = i + 1
for _ = 1, nu do
  moveUser(ARGV[i], tonumber(ARGV[i + 1]))
  i = i + 2
end

if ARGV[5] == '1' and old ~= '' then
  local budget = tonumber(ARGV[4])
  local left = redis.call('SRANDMEMBER', pa .. 'nc:' .. old, budget)
  for _, c in ipairs(left) do
    moveChannel(c, 0, {})
  end
  budget = budget - #left
  if budget > 0 then
    local users = redis.call('HRANDFIELD', pa .. 'un:' .. old, budget)
    for _, u in ipairs(users) do
      moveUser(u, 0)
    end
    budget = budget - #users
  end
  if budget > 0 then
    redis.call('HDEL', pa .. 'conns', old)
  else
    out[1] = 1
  end
end
return out
