"""Names shared by the Lua scripts and Python, each with one source and a drift test."""
