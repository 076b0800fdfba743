"""`python -m server.replay ...`: the replay command alone (the what-if endpoint runs it)."""

import argparse
import sys

from server.replay.command import register

parser = argparse.ArgumentParser(prog="leadgrab")
register(parser.add_subparsers())
args = parser.parse_args(["replay", *sys.argv[1:]])
sys.exit(args.func(args))
