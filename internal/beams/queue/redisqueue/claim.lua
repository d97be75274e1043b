-- Take over a job whose holder stopped refreshing it. KEYS: stream,
-- cursors. ARGV: group, consumer, min idle (ms), start.
-- Returns {next start, id, fields, cursor} for a job taken over, or {next
-- start} when this pass found none ("0-0": the pending list was scanned to
-- its end). Each XAUTOCLAIM looks at up to 10 pending entries.
local start = ARGV[4]
for _ = 1, 20 do
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], start, 'COUNT', 1)
  start = r[1]
  local e = r[2][1]
  if e and e[2] then
    local x = entry(KEYS[2], e)
    return {start, x[1], x[2], x[3]}
  end
  if start == '0-0' then
    break
  end
end
return {start}
