-- One non-blocking receive step, atomic so that two consumers never move, reclaim or read
-- the same entry twice:
--   1. due retries move from the delayed set back to the stream (at most ARGV[8]),
--   2. entries leased longer than the visibility timeout are reclaimed (XAUTOCLAIM); one
--      reclaimed more than the allowed attempts is dead-lettered instead,
--   3. new entries fill the rest of the batch (XREADGROUP without BLOCK).
-- Time is the server's, so that producers and consumers on skewed clocks agree on due times.
-- KEYS[1] stream, KEYS[2] delayed set, KEYS[3] dead-letter stream
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] max, ARGV[4] visibility timeout ms,
-- ARGV[5] max deliveries, ARGV[6] dead-letter cap, ARGV[7] reclaim cursor, ARGV[8] promote limit
-- Returns {{{id, fields, deliveries}, ...}, ms until the next retry is due or -1,
--          next reclaim cursor, {abandoned entry id, ...}}
local stream, delayed, dead = KEYS[1], KEYS[2], KEYS[3]
local group, consumer = ARGV[1], ARGV[2]
local max = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function dead_letter(fields, err)
  local args = {'XADD', dead, 'MAXLEN', '~', ARGV[6], '*'}
  for i = 1, #fields do
    args[#args + 1] = fields[i]
  end
  for _, v in ipairs({'error', err, 'group', group, 'failed_at', tostring(now)}) do
    args[#args + 1] = v
  end
  redis.call(unpack(args))
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, tonumber(ARGV[8]))) do
  redis.call('ZREM', delayed, member)
  local ok, fields = pcall(cjson.decode, member)
  if ok and type(fields) == 'table' and #fields > 0 and #fields % 2 == 0 then
    local args = {'XADD', stream, '*'}
    for i = 1, #fields do
      args[#args + 1] = tostring(fields[i])
    end
    redis.call(unpack(args))
  else
    dead_letter({'raw', member}, 'unreadable delayed job')
  end
end

local out, abandoned = {}, {}
local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[4], ARGV[7], 'COUNT', max)
for _, entry in ipairs(claimed[2]) do
  local id, fields = entry[1], entry[2]
  if fields then
    local lease = redis.call('XPENDING', stream, group, id, id, 1)[1]
    local deliveries = lease and lease[4] or 1
    if deliveries > tonumber(ARGV[5]) then
      dead_letter(fields, 'abandoned: delivered ' .. deliveries .. ' times without being settled')
      redis.call('XACK', stream, group, id)
      redis.call('XDEL', stream, id)
      abandoned[#abandoned + 1] = id
    else
      out[#out + 1] = {id, fields, deliveries}
    end
  end
end

if #out < max then
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - #out, 'STREAMS', stream, '>')
  if read then
    for _, entry in ipairs(read[1][2]) do
      out[#out + 1] = {entry[1], entry[2], 1}
    end
  end
end

local wait = -1
local next_due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if #next_due > 0 then
  wait = math.max(0, tonumber(next_due[2]) - now)
end
return {out, wait, claimed[1], abandoned}
