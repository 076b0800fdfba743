"""A built wheel carries the Lua scripts and works without the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from server.store.scripts import NAMES
from tests.conftest import ROOT


def test_wheel_ships_the_lua_scripts_and_finds_them(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("leadgrab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"server/lua/{name}.lua" for name in NAMES} <= names
    assert "server/lua/lib/reasons.lua" in names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import server.store.scripts as s; "
             "assert s.lua_dir().is_relative_to(sys.argv[1]), s.lua_dir(); "
             "print(len(s.source('claim_lead')))")
    ran = subprocess.run([sys.executable, "-c", probe, str(unpacked)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert int(ran.stdout) > 1000
