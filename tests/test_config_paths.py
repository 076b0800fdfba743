"""Relative paths in a config resolve against its folder, whatever the working directory; and
`leadgrab token` never makes up a secret (issue 15, finding 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.web.auth import Role, TokenAuthority
from tests.conftest import SECRET

LEADGRAB = [sys.executable, "-c", "from server.cli import main; raise SystemExit(main())"]
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ('[server]\ndata_dir = "data"\n\n[teams.north]\nrules = { max_open = 1, max_daily = 1, '
          'cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n')


def leadgrab(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LEADGRAB_SECRET"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([*LEADGRAB, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_token_from_another_folder_uses_the_servers_secret(tmp_path: Path) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    (site / "data").mkdir(parents=True)
    elsewhere.mkdir()
    (site / "config.toml").write_text(CONFIG)
    (site / "data" / "secret").write_text(SECRET)
    (site / "data" / "secret").chmod(0o600)
    done = leadgrab(elsewhere, "token", "--config", "../site/config.toml", "--role", "manager")
    assert done.returncode == 0, done.stderr
    assert TokenAuthority(SECRET).verify(done.stdout.strip()).role is Role.MANAGER
    assert list(elsewhere.iterdir()) == []


def test_token_without_a_secret_fails_naming_where_it_looked(tmp_path: Path) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    site.mkdir()
    elsewhere.mkdir()
    (site / "config.toml").write_text(CONFIG)
    done = leadgrab(elsewhere, "token", "--config", str(site / "config.toml"), "--role", "manager")
    assert done.returncode == 2 and done.stdout == ""
    for place in ("server.secret", "$LEADGRAB_SECRET", str(site / "data" / "secret")):
        assert place in done.stderr
    assert not (site / "data" / "secret").exists() and list(elsewhere.iterdir()) == []


def test_publish_without_a_secret_fails_and_makes_none(tmp_path: Path) -> None:
    """The token publish mints for itself would be refused by a server with another secret."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.toml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("LEADGRAB_SECRET", "LEADGRAB_TOKEN")}
    done = subprocess.run([sys.executable, "-c", "from leadgrab.cli import main; "
                           "raise SystemExit(main())", "publish", "--config", "config.toml",
                           "--team", "north", "--value", "1", "--id", "L1"], cwd=site,
                          capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "no token secret found" in done.stderr
    assert not (site / "data" / "secret").exists()


def test_reload_finds_the_data_dir_from_another_folder(tmp_path: Path) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    (site / "data" / "redis").mkdir(parents=True)
    elsewhere.mkdir()
    (site / "config.toml").write_text(CONFIG)
    done = leadgrab(elsewhere, "reload", "--config", str(site / "config.toml"))
    assert done.returncode == 2
    assert f"no embedded Redis recorded at {site / 'data' / 'redis' / 'url'}" in done.stderr
