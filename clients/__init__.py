"""LeadGrab clients: a Python push client and the rep/publish commands."""
