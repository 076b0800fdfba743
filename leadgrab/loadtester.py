"""The `leadgrab-loadtest` entry point: the load tester, or one line saying what to install.

A plain `pip install .` brings what most runs need; heavier analysis packages (scipy,
matplotlib, py-spy) come with the `loadtest` extra, and a missing one is named, not traced.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

INSTALL = "pip install 'leadgrab[loadtest]'"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from loadtest import cli
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".")[0]
        if module in ("leadgrab", "server", "clients", "loadtest"):
            raise  # our own code is missing: a broken install, worth the traceback
        print(f"leadgrab-loadtest: needs the module {module!r}, which the load tester's extra"
              f" installs: {INSTALL}", file=sys.stderr)
        return 2
    return cli.main(argv)
