"""What the server adds for the rep console: welcome's added fields, its own origin on /ws,
the sign-in link, and the page shipped in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from server import cli
from server.fanout.catchup import shift_state
from server.floor.roster import Member
from server.web.auth import Role, TokenAuthority
from tests.conftest import ROOT, SECRET, Gateway
from tests.test_ws import connect, publish

PAGE_FILES = ["index.html", "console.css", "favicon.svg", "js/main.js", "js/connection.js",
              "js/offers.js", "js/mine.js", "js/dom.js", "js/wording.js", "js/countdown.js",
              "js/attention.js"]


async def test_welcome_carries_held_leads_pause_time_zone_and_shift(gateway: Gateway) -> None:
    async with connect(gateway, "alice") as alice:
        first = await alice.recv_type("welcome")
        assert (first["held"], first["paused"]) == ([], False)
        assert (first["timezone"], first["shift"]) == ("Europe/Berlin", None)
        await publish(gateway, "H1", region="north")
        await alice.recv_type("lead")
        await alice.send({"type": "claim", "req_id": "h1", "lead_id": "H1"})
        assert (await alice.recv_type("claim_result"))["result"] == "won"
        await alice.send({"type": "pause"})
        await alice.recv_type("action_result")
    async with connect(gateway, "alice") as again:
        welcome = await again.recv_type("welcome")
        assert (welcome["held"], welcome["paused"]) == (["H1"], True)
        assert welcome["quota"]["open"] == 1


def test_shift_state_says_on_or_off_and_until_when() -> None:
    member = Member("x", "north", "", True, frozenset(), frozenset(),
                    {"shifts": ["daily 09:00-18:00"]}, "UTC")
    at = lambda h, m=0: int(datetime(2026, 3, 4, h, m, tzinfo=UTC).timestamp() * 1000)  # noqa: E731
    assert shift_state(member, at(10)) == {"on": True, "until_ms": at(18)}
    assert shift_state(member, at(7, 30)) == {"on": False, "until_ms": at(9)}
    assert shift_state(member, at(20)) == {"on": False, "until_ms": at(9) + 86_400_000}
    always = Member("y", "north", "", True, frozenset(), frozenset(), {"shifts": []}, "UTC")
    assert shift_state(always, at(10)) is None


async def test_ws_admits_its_own_origin_and_refuses_others(gateway: Gateway) -> None:
    own = gateway.url("/").rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(gateway.ws_url, headers={"Origin": own}) as ws:
            await ws.send_json({"type": "hello", "token": gateway.token("alice")})
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        for other in ("http://evil.example", own.replace("127.0.0.1", "localhost") + "1"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(gateway.ws_url, headers={"Origin": other})
            assert refused.value.status == 403


def test_token_link_opens_the_console_signed_in(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\nhost = "0.0.0.0"\nport = 9123\ndata_dir = "{tmp_path}"\n'
                      f'secret = "{SECRET}"\n[teams.north]\ntimezone = "UTC"\n'
                      "rules = { max_open = 1, max_daily = 1, cooldown_after_claim_ms = 0,"
                      " penalty_cooldown_ms = 0 }\n"
                      '[[reps]]\nid = "alice"\nteam = "north"\n')
    assert cli.main(["token", "-c", str(config), "--rep", "alice", "--link"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://localhost:9123/#token=")
    principal = TokenAuthority(SECRET).verify(link.split("#token=", 1)[1])
    assert (principal.role, principal.subject, principal.team) == (Role.REP, "alice", "north")
    assert cli.main(["token", "-c", str(config), "--rep", "alice", "--link",
                     "--base-url", "https://floor.example/"]) == 0
    assert capsys.readouterr().out.startswith("https://floor.example/#token=ey")
    assert cli.main(["token", "-c", str(config), "--role", "integration", "--link"]) == 2


def test_wheel_ships_the_console(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    names = set(zipfile.ZipFile(next(tmp_path.glob("leadgrab-*.whl"))).namelist())
    assert {f"server/web/static/{name}" for name in PAGE_FILES} <= names
    assert not any("vendor" in name or name.endswith("axe.min.js") for name in names)
