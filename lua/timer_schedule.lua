--[[ timer_schedule.lua — the team's earliest timers with their due times (read only).

A replay reads the timer set after the scripts that may add a timer, in the same round trip
(the store sends the scripts of one loop turn as one pipeline, in order): the answer is the
set as that script left it. Writes nothing.

KEYS[1]  lg:{team}:timers   zset: due timers scored by due time in ms

ARGV[1]  how many timers at most (the earliest, by due time then member)

Returns  {member, due ms, member, due ms, ...}: the earliest ARGV[1] timers, oldest first.
Emits    nothing.
]]

local timers_key = KEYS[1]
local limit = tonumber(ARGV[1])

return redis.call('ZRANGEBYSCORE', timers_key, '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
