-- Helpers every script starts with. Keys: KEYS[1] the stream; a script
-- that reads cursors gets the cursor hash as KEYS[2] or KEYS[3].

-- owner is the consumer holding stream entry id in group, or nil (not
-- pending: never delivered, acked, or no group).
local function owner(stream, group, id)
  local p = redis.pcall('XPENDING', stream, group, id, id, 1)
  if type(p) ~= 'table' or p.err or #p == 0 then
    return nil
  end
  return p[1][2]
end

-- touch resets the idle time of an entry held by consumer (JUSTID: the
-- delivery count is left alone), so no other node takes it over.
local function touch(stream, group, consumer, id)
  redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
end

-- entry is {id, fields, cursor} for stream entry e ({id, fields}); the
-- cursor is "" when none was recorded.
local function entry(cursors, e)
  local f = e[2]
  local cursor = false
  for i = 1, #f, 2 do
    if f[i] == 'p' then
      cursor = redis.call('HGET', cursors, f[i + 1])
    end
  end
  return {e[1], f, cursor or ''}
end
