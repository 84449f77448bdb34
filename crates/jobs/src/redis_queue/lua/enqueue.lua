-- Appends a job unless its dedup key was seen or the stream is full; one script, so the
-- check and the append cannot be split by another producer.
-- KEYS[1] stream, KEYS[2] delayed set, KEYS[3] dedup key (absent without a dedup key)
-- ARGV[1] max depth, ARGV[2] dedup window ms, ARGV[3] job id, ARGV[4..] field, value, ...
-- Returns {1, entry id} when added, {0, first job id} for a duplicate, {-1, depth} when full.
if KEYS[3] then
  local first = redis.call('GET', KEYS[3])
  if first then
    return {0, first}
  end
end
local depth = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if depth >= tonumber(ARGV[1]) then
  return {-1, tostring(depth)}
end
local args = {'XADD', KEYS[1], '*'}
for i = 4, #ARGV do
  args[#args + 1] = ARGV[i]
end
local id = redis.call(unpack(args))
if KEYS[3] then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[2])
end
return {1, id}
