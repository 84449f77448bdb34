-- Counts in one round trip; a missing stream or group counts zero instead of failing.
-- KEYS[1] stream, KEYS[2] delayed set, KEYS[3] dead-letter stream; ARGV[1] group
-- Returns {entries in the stream, pending for the group, delayed, dead}
local pending = 0
local summary = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if type(summary) == 'table' and not summary.err then
  pending = summary[1]
end
return {redis.call('XLEN', KEYS[1]), pending, redis.call('ZCARD', KEYS[2]), redis.call('XLEN', KEYS[3])}
