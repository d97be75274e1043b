-- RemoveConnection: uncount one connection of lease M (none: no change).
-- KEYS[1] P:{A}:conns
-- ARGV    M
return hdecr(KEYS[1], ARGV[1])
