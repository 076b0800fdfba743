"""Client-side subcommands of `leadgrab` (rep, publish): placeholder until the client lands."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Register the client subcommands on the `leadgrab` parser."""
    del sub
