--[[ tally_scores.lua — add one batch of counted audit entries to the per-rep day counters.

The scorecard reads the audit stream incrementally (server/floor/scorecard.py): it counts a
batch of entries after the cursor into per-rep, per-local-day deltas, and this script applies
them and moves the cursor, only if the cursor is still where the caller read it. Several
server processes may count at once; exactly one applies each batch, the others answer stale
and read on from the new cursor.

KEYS[1]     lg:{team}:tally:cursor   string: the id of the last audit entry counted
KEYS[2]     lg:{team}:tally:takes    hash: lead -> 'rep|taken ms' while its first follow-up is due
KEYS[3]     lg:{team}:tally:refs     hash: complaint ref -> JSON {rep, day, category, counted}
KEYS[4..]   lg:{team}:tally:rep:<rep> hash: '<local date>|<counter>' -> count (or a list, for
            'ff': first follow-up times in ms, comma separated), one per rep in ARGV[9]

ARGV[1]  the cursor the caller read ('' = none yet)
ARGV[2]  the new cursor (the last entry id of the batch)
ARGV[3]  JSON list of [rep index (1-based, into KEYS[4..]), field, delta]: HINCRBY
ARGV[4]  JSON list of [rep index, field, value]: appended to the field's comma list
ARGV[5]  JSON object lead -> value: set in the takes hash
ARGV[6]  JSON list of leads: removed from the takes hash
ARGV[7]  JSON object ref -> value: set in the refs hash
ARGV[8]  oldest local date to keep ('' = prune nothing): older '<date>|' fields of the touched
         reps are deleted
ARGV[9]  number of rep keys

Returns  {'ok', cursor} or {'stale', cursor now}
Emits    nothing (the counters are derived from the audit; they can be rebuilt from it)
]]

local cursor_key, takes_key, refs_key = KEYS[1], KEYS[2], KEYS[3]
local expected, new_cursor = ARGV[1], ARGV[2]
local incr, append = cjson.decode(ARGV[3]), cjson.decode(ARGV[4])
local takes_set, takes_del, refs_set = cjson.decode(ARGV[5]), cjson.decode(ARGV[6]),
  cjson.decode(ARGV[7])
local keep_from, n_reps = ARGV[8], tonumber(ARGV[9])

local current = redis.call('GET', cursor_key) or ''
if current ~= expected then
  return {'stale', current}
end

for _, op in ipairs(incr) do
  redis.call('HINCRBY', KEYS[3 + op[1]], op[2], op[3])
end
for _, op in ipairs(append) do
  local key = KEYS[3 + op[1]]
  local old = redis.call('HGET', key, op[2])
  redis.call('HSET', key, op[2], old and (old .. ',' .. op[3]) or tostring(op[3]))
end
for lead, value in pairs(takes_set) do
  redis.call('HSET', takes_key, lead, value)
end
for _, lead in ipairs(takes_del) do
  redis.call('HDEL', takes_key, lead)
end
for ref, value in pairs(refs_set) do
  redis.call('HSET', refs_key, ref, value)
end
if keep_from ~= '' then
  for i = 1, n_reps do
    for _, name in ipairs(redis.call('HKEYS', KEYS[3 + i])) do
      if string.sub(name, 1, 10) < keep_from then
        redis.call('HDEL', KEYS[3 + i], name)
      end
    end
  end
end
redis.call('SET', cursor_key, new_cursor)
return {'ok', new_cursor}
