"""HTTP and WebSocket transport: handlers, auth, error shapes (decode → call → encode)."""
