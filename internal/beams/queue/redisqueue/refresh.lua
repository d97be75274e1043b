-- Refresh the claims of a node. KEYS: stream.
-- ARGV: group, consumer, entry ids...
-- Returns {length, state...}, a state per id: 1 held (idle time reset),
-- 0 gone (done), 2 held by another consumer (taken over).
local out = {redis.call('XLEN', KEYS[1])}
for i = 3, #ARGV do
  local o = owner(KEYS[1], ARGV[1], ARGV[i])
  if o == nil then
    out[#out + 1] = 0
  elseif o ~= ARGV[2] then
    out[#out + 1] = 2
  else
    touch(KEYS[1], ARGV[1], ARGV[2], ARGV[i])
    out[#out + 1] = 1
  end
end
return out
