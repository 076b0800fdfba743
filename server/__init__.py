"""LeadGrab server: arbitration in Redis Lua, WebSocket and HTTP gateway."""
