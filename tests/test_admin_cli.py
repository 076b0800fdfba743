"""The operator commands: check-config, token, and reload without a running server."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main
from server.web.auth import Role, TokenAuthority
from tests.conftest import ROOT, SECRET
from tests.test_cli import isolated

__all__ = ["isolated"]  # the autouse fixture: no stray log handler on a captured stderr


def test_check_config_prints_effective_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "alice" in out and "max_open=8" in out  # gold tier overrides 5


def test_check_config_names_the_bad_key(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[teams.north]\nrules = { max_open = -1, max_daily = 1, "
                   "cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "teams.north.rules.max_open" in err and "-1" in err


def test_token_mints_verifiable_tokens(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\nsecret = "{SECRET}"\ndata_dir = "{tmp_path}"\n'
                      '[teams.north]\nrules = { max_open = 1, max_daily = 1, '
                      'cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n'
                      '[[reps]]\nid = "alice"\nteam = "north"\n')
    assert main(["token", "--config", str(config), "--rep", "alice", "--ttl", "60"]) == 0
    rep = TokenAuthority(SECRET).verify(capsys.readouterr().out.strip())
    assert (rep.role, rep.subject, rep.team) == (Role.REP, "alice", "north")
    assert main(["token", "--config", str(config), "--role", "manager", "--name", "m"]) == 0
    assert TokenAuthority(SECRET).verify(capsys.readouterr().out.strip()).role is Role.MANAGER
    assert main(["token", "--config", str(config), "--rep", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err


def test_reload_without_a_server_says_so(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
                      '[teams.north]\nrules = { max_open = 1, max_daily = 1, '
                      'cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n')
    assert main(["reload", "--config", str(config)]) == 2
    assert "is `leadgrab serve` running" in capsys.readouterr().err


def test_reload_with_redis_unreachable_says_so_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[teams.north]\nrules = { max_open = 1, max_daily = 1, '
                      'cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n')
    assert main(["reload", "--config", str(config), "--redis-url", "redis://127.0.0.1:1/0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Redis unavailable") and "Traceback" not in err


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    """`leadgrab check-config | head -1`: the pipe closes before the output is written."""
    import subprocess

    from tests.test_processes import LEADGRAB

    with subprocess.Popen([*LEADGRAB, "check-config", str(ROOT / "config.toml")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=30)
    assert code == 141 and "Traceback" not in err and "Broken" not in err, err
