"""The Redis boundary: the only package that talks to Redis (scripts, keys, reads, clients)."""
