-- Append one decision to the team's audit stream (approximately capped at maxlen) and,
-- when a trail key is given, remember the entry id on the lead's trail list.
-- `fields` is a flat array of name, value pairs; empty values are skipped.
local function audit(key, maxlen, fields, trail_key)
  local args = {'XADD', key, 'MAXLEN', '~', maxlen, '*'}
  for i = 1, #fields, 2 do
    local value = fields[i + 1]
    if value ~= nil and value ~= '' then
      args[#args + 1] = fields[i]
      args[#args + 1] = tostring(value)
    end
  end
  local id = redis.call(unpack(args))
  if trail_key then
    redis.call('RPUSH', trail_key, id)
  end
  return id
end
