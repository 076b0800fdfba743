"""Replay of a recorded audit through the real scripts: exact, and "what if" under new rules."""
