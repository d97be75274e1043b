-- PublishCached: store a cache channel's last event and publish.
-- KEYS[1] P:{A}:cache:C
-- ARGV    value, ttl (ms), topic, message
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SPUBLISH', ARGV[3], ARGV[4])
return 1
