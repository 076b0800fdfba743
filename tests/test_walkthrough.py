"""The README walkthrough, at human speed, with the example config.toml and five terminals."""

from __future__ import annotations

import asyncio
import re
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from redis.asyncio import Redis

from server.app import create_app
from server.config import parse_config
from tests.conftest import ROOT, SECRET, running
from tests.terminal import Terminal, on_pty
from tests.test_client_reach import leadgrab

HUMAN_PAUSE_S = 5.0  # between the two publishes: longer than the old 3 s cooldown


def example_config(folder: Path, port: int) -> Path:
    """The repository's config.toml, with its own data folder, secret and port."""
    text = (ROOT / "config.toml").read_text()
    text = re.sub(r'(?m)^data_dir = "data"', f'data_dir = "{folder}"', text)
    text = re.sub(r'(?m)^secret = ""', f'secret = "{SECRET}"', text)
    text = re.sub(r"(?m)^port = 8080", f"port = {port}", text)
    path = folder / "config.toml"
    path.write_text(text)
    return path


async def test_the_walkthrough_works_at_human_speed(
    redis: Redis, redis_url: str, tmp_path: Path,
) -> None:
    app_config = parse_config((ROOT / "config.toml").read_text().replace(
        'data_dir = "data"', f'data_dir = "{tmp_path}"').replace(
        'secret = ""', f'secret = "{SECRET}"'))
    async with running(create_app(app_config, redis=redis_url), redis) as gw:
        port = gw.server.port
        assert port is not None
        config = str(example_config(tmp_path, port))
        tokens = {rep: gw.token(rep) for rep in ("alice", "bob", "chen")}

        def rep(name: str, *flags: str) -> AbstractAsyncContextManager[Terminal]:
            return on_pty("rep", "--config", config, "--token", tokens[name], *flags)

        async with rep("alice") as alice, rep("bob") as bob, rep("chen", "--auto-claim") as chen:
            for name, term in (("alice", alice), ("bob", bob), ("chen", chen)):
                await term.said(f"connected as {name}")
            publish = ("publish", "--config", config, "--team", "north")
            assert (await leadgrab(*publish, "--value", "5000", "--region", "beijing",
                                   "--skills", "enterprise", "--id", "L-1001"))[0] == 0
            await chen.expect(r"(?m)^claim L-1001: won$")
            await chen.expect(r"(?m)^taken L-1001$")
            await alice.said("lead L-1001")
            await alice.said("taken L-1001")
            alice.type("claim L-1001")
            await alice.said("claim L-1001: lost")
            await bob.said("taken L-1001")
            assert "lead L-1001" not in bob.text
            await asyncio.sleep(HUMAN_PAUSE_S)
            assert (await leadgrab(*publish, "--value", "3000", "--region", "tianjin",
                                   "--id", "L-1002"))[0] == 0
            await chen.said(r"claim L-1002: rejected \(cooldown\), retry in \d+ ms; auto-claim "
                            "retries then")
            await alice.said("lead L-1002")
            alice.type("")
            await alice.said("claim L-1002: won")
            alice.type("followup L-1002 called, sending a quote")
            await alice.said("follow-up on L-1002 recorded; no further deadline")
            alice.type("mine")
            await alice.said(r"  L-1002  since")
            alice.type("close L-1002 won")
            await alice.said("closed L-1002 as won")
            await chen.said("taken L-1002")
        assert "lead L-1002" not in bob.text
