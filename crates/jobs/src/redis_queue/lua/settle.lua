-- Settles a leased entry, only if the lease is still the caller's: same consumer and same
-- delivery count (a reclaim increments it). Otherwise another consumer owns the job and
-- nothing changes, so a slow consumer can neither drop nor double it.
-- KEYS[1] stream, KEYS[2] delayed set, KEYS[3] dead-letter stream
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] consumer, ARGV[4] deliveries,
-- ARGV[5] 'ack' | 'retry' | 'dead', ARGV[6] retry delay ms, ARGV[7] dead-letter cap,
-- ARGV[8] error, ARGV[9] delayed member (retry) or ARGV[9..] field, value, ... (dead)
-- Returns 1 when settled, 0 when the lease was lost.
local lease = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if not lease or lease[2] ~= ARGV[3] or lease[4] ~= tonumber(ARGV[4]) then
  return 0
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[5] == 'retry' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[9])
elseif ARGV[5] == 'dead' then
  local args = {'XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*'}
  for i = 9, #ARGV do
    args[#args + 1] = ARGV[i]
  end
  for _, v in ipairs({'error', ARGV[8], 'group', ARGV[1], 'failed_at', tostring(now)}) do
    args[#args + 1] = v
  end
  redis.call(unpack(args))
end
return 1
