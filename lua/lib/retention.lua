-- Retention: a finished (closed or withdrawn) lead's own keys expire `retention_ms` after it
-- finished; '0' keeps them for ever. Its history stays in the audit stream (capped by length).
local function retire(retention_ms, ...)
  local ms = tonumber(retention_ms) or 0
  if ms > 0 then
    for _, key in ipairs({...}) do
      redis.call('PEXPIRE', key, ms)
    end
  end
end
