"""The `leadgrab` entry point: the server's commands and the client's, on one parser.

It lives above both packages so that neither imports the other for it: `clients` may use
the server's wire protocol, but `server` never imports `clients` (import-linter holds this).
"""

from __future__ import annotations

from collections.abc import Sequence

from clients import cli as client_cli
from server import cli as server_cli


def main(argv: Sequence[str] | None = None) -> int:
    """`leadgrab serve|check-config|reload|token|rep|publish|scorecard ...`."""
    parser = server_cli.build_parser(client_cli.add_commands)
    parser.description = ("LeadGrab: serve, check-config, reload, token, rep, publish and "
                          "scorecard.")
    return server_cli.run(parser, argv)
