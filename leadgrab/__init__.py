"""The `leadgrab` command, composed above the server and its clients."""
