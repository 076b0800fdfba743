"""`leadgrab rep` on a pseudo-terminal against a real server: a rep can work a shift with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis

from server.app import create_app
from tests.conftest import Gateway, gateway_config, running
from tests.terminal import Terminal, on_pty
from tests.test_policies_wire import manager, post
from tests.test_ws import publish

SHIFT_RULES = ("max_open = 5, max_daily = 50, cooldown_after_claim_ms = 0, "
               "penalty_cooldown_ms = 0, followup_sla_ms = 1500, warn_before_ms = 1000, "
               "max_hold_ms = 600000")
COOLDOWN_RULES = ("max_open = 5, max_daily = 50, cooldown_after_claim_ms = 1500, "
                  "penalty_cooldown_ms = 0")
BODY = """
[teams.north]
timezone = "Europe/Berlin"
rules = {{ {rules} }}

[[reps]]
id = "ann"
team = "north"

[[reps]]
id = "ben"
team = "north"
"""


@asynccontextmanager
async def floor(tmp_path: Path, redis: Redis, redis_url: str,
                rules: str) -> AsyncIterator[Gateway]:
    config = gateway_config(tmp_path, "", BODY.format(rules=rules))
    async with running(create_app(config, redis=redis_url), redis) as gw:
        yield gw


@asynccontextmanager
async def rep(gw: Gateway, name: str, *flags: str) -> AsyncIterator[Terminal]:
    async with on_pty("rep", "--url", gw.ws_url, "--token", gw.token(name), *flags) as term:
        await term.said(f"connected as {name} \\(team north\\): 0/5 open, 0/50 claimed today")
        yield term


async def test_every_frame_and_command_in_words(
    redis: Redis, redis_url: str, tmp_path: Path,
) -> None:
    async with floor(tmp_path, redis, redis_url, SHIFT_RULES) as gw, rep(gw, "ann") as ann:
        ann.type("help")
        await ann.said(r"followup ID \[NOTE\]  record progress")
        await publish(gw, "L1", value=5000, region="north", customer_id="C-1")
        await ann.said("lead L1  value=5000  region=north  skills=-  priority=0  customer=C-1")
        ann.type("pool")
        await ann.said(r"pool: 1 open offer\(s\), top first")
        await ann.said(r"  top lead L1  value=5000 .* ago\)")
        mark = len(ann.text)
        ann.type("")  # Enter claims the top lead
        await ann.expect(r"(?m)^claim L1: won$", after=mark)
        await ann.expect(r"(?m)^taken L1$", after=mark)
        await ann.said(r"warning L1: first follow-up due at \d\d:\d\d:\d\d \(in [^)]+\), "
                       r"else it is recycled; `followup L1 NOTE`")
        ann.type("followup L1 called, sending a quote")
        await ann.said(r"follow-up on L1 recorded; next follow-up due \d\d:\d\d:\d\d "
                       r"\(in (9 min 5\d|10 min 0) s\)")
        ann.type("mine")
        await ann.said(r"mine: 1 held lead\(s\)")
        await ann.said(r"  L1  since \d\d:\d\d:\d\d; next follow-up due .*\(in (9|10) min")
        ann.type("close L1 won")
        await ann.said("closed L1 as won: the slot is free")
        ann.type("release L1")
        await ann.said(r"release L1: refused: closed \(the lead is closed or withdrawn\)")
        ann.type("mine")
        await ann.said(r"mine: you hold no leads")

        await publish(gw, "L2", region="north")
        await ann.said("lead L2")
        ann.type("claim L2")
        await ann.said("claim L2: won")
        await ann.said("warning L2: first follow-up due")
        await ann.said("revoked L2: no follow-up within the deadline: it went back to the pool"
                       " and you are penalised")

        await publish(gw, "L3", region="north")
        await ann.said("lead L3")
        assert (await post(gw, "/api/leads/L3/dispatch", {"rep": "ann"}, manager(gw)))[0] == 200
        await ann.said(r"assigned L3 to you by manager boss \(no reason given\); value=0")
        ann.type("release L3")
        await ann.said("released L3: it is back in the pool")
        await publish(gw, "L4", region="north")
        await ann.said("lead L4")
        assert (await post(gw, "/api/leads/L4/dispatch", {"rep": "ann", "reason": "VIP"},
                           manager(gw)))[0] == 200
        await ann.said(r"assigned L4 to you by manager boss \('VIP'\)")
        assert (await post(gw, "/api/leads/L4/withdraw", {"reason": "spam"}, manager(gw)))[0] \
            == 200
        await ann.said("revoked L4: a manager withdrew it")

        ann.type("pause")
        await ann.said(r"paused: no offers, and claims are rejected \(not_open\)")
        await ann.expect(r"(?m)^pause: ok$")
        await publish(gw, "L5", region="north")
        ann.type("claim L5")
        await ann.said(r"claim L5: rejected \(not_open\)")
        ann.type("resume")
        await ann.said("unpaused: back on the floor")
        ann.type("claim L5")
        await ann.said("claim L5: won")
        ann.type("claim " + "x" * 200)
        await ann.said(r"error bad_field: claim.lead_id: expected a non-empty string")
        ann.type("close L5 maybe")
        await ann.said(r"usage: close ID won\|lost")
        ann.type("grab it now")
        await ann.said("unknown command 'grab'; `help` lists them")
    assert "Traceback" not in ann.text and "WARNING" not in ann.text


async def test_auto_claim_waits_out_the_cooldown_and_wins(
    redis: Redis, redis_url: str, tmp_path: Path,
) -> None:
    async with floor(tmp_path, redis, redis_url, COOLDOWN_RULES) as gw, \
            rep(gw, "ann", "--auto-claim") as ann:
        await publish(gw, "A1", region="north")
        await ann.said("claim A1: won")
        await publish(gw, "A2", region="north")
        await ann.said(r"claim A2: rejected \(cooldown\), retry in \d+ ms; auto-claim retries "
                       "then")
        await ann.said("claim A2: won", timeout_s=5)
        ann.type("mine")
        await ann.said(r"mine: 2 held lead\(s\)")
    assert ann.text.count("claim A2:") == 2, ann.text


async def test_a_rival_s_win_stops_the_retry(
    redis: Redis, redis_url: str, tmp_path: Path,
) -> None:
    async with floor(tmp_path, redis, redis_url, COOLDOWN_RULES) as gw, \
            rep(gw, "ann", "--auto-claim") as ann:
        await publish(gw, "B1", region="north")
        await ann.said("claim B1: won")
        await publish(gw, "B2", region="north")
        await ann.said(r"claim B2: rejected \(cooldown\)")
        status, body = await post(gw, "/api/leads/B2/claim", {}, gw.token("ben"))
        assert (status, body["result"]) == (200, "won")
        await ann.said("taken B2")
        await asyncio.sleep(2.0)  # past the cooldown: no retry of a lead that is gone
        ann.type("pool")
        await ann.said("pool: no open offers")
    assert ann.text.count("claim B2:") == 1, ann.text


async def test_a_new_session_knows_what_the_rep_holds_and_whether_paused(
    redis: Redis, redis_url: str, tmp_path: Path,
) -> None:
    async with floor(tmp_path, redis, redis_url, COOLDOWN_RULES) as gw:
        await publish(gw, "H1", region="north")
        status, body = await post(gw, "/api/leads/H1/claim", {}, gw.token("ann"))
        assert (status, body["result"]) == (200, "won")
        assert (await post(gw, "/api/reps/ann/pause", {}, manager(gw)))[0] == 200
        async with on_pty("rep", "--url", gw.ws_url, "--token", gw.token("ann")) as ann:
            await ann.said(r"connected as ann \(team north\): 1/5 open, 1/50 claimed today; "
                           r"cooling down until .*; paused \(`resume` to get offers\)")
            ann.type("mine")
            await ann.said(r"mine: 1 held lead\(s\)")
            await ann.said("  H1  since")
