"""Data directories through every store command, in real ``tradeguard`` processes (item 1).

A relative ``--data-dir`` used to become ``sqlite:///rel``, read as ``/rel``: the journal
landed under the filesystem root while logs and simulator state stayed in the working
directory. Here each form of path (relative, ``./`` relative with spaces, absolute with
spaces, ``~``) goes through ``run --duration``, ``status``, ``verify``, ``journal``,
``flags``, ``recover``, ``backup`` and ``restore``; every file must land in the one
directory the path names, and nothing may appear at ``/``. The data directory and its
``logs/`` are created 0700 (item 24).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradeguard.cli.main import app

TAG = f"tg-paths-{os.getpid()}"


def tradeguard(cwd: Path, home: Path, *args: str) -> tuple[int, Any]:
    """Run the real CLI in a process of its own in ``cwd`` with ``HOME=home``."""
    env = dict(os.environ, HOME=str(home))
    proc = subprocess.run(
        [sys.executable, "-m", "tradeguard", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, _last_json(proc.stdout, proc.stderr)


def in_process(cwd: Path, home: Path, *args: str) -> tuple[int, Any]:
    """The same CLI in this process (faster), with the working directory and HOME set."""
    before = Path.cwd()
    old_home = os.environ.get("HOME")
    os.chdir(cwd)
    os.environ["HOME"] = str(home)
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(before)
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
    return result.exit_code, _last_json(result.stdout, repr(result.exception))


def _last_json(stdout: str, other: str) -> Any:
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else other
    except json.JSONDecodeError:
        return stdout + other


# How a path is typed for a directory called ``name``, and where it must land
# (given the working directory, HOME and the test's tmp dir).
FORMS: dict[str, tuple[Callable[[str, Path], str], Callable[[str, Path, Path, Path], Path]]] = {
    "relative": (lambda n, t: n, lambda n, cwd, home, t: cwd / n),
    "dot relative, spaces": (
        lambda n, t: f"./{n} my data",
        lambda n, cwd, home, t: cwd / f"{n} my data",
    ),
    "absolute, spaces": (
        lambda n, t: str(t / "abs dir" / n),
        lambda n, cwd, home, t: t / "abs dir" / n,
    ),
    "tilde": (lambda n, t: f"~/{n}", lambda n, cwd, home, t: home / n),
}


def _root_names() -> set[str]:
    return {p.name for p in Path("/").iterdir()}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_store_command_uses_the_directory_the_path_names(tmp_path: Path, form: str) -> None:
    typed, where = FORMS[form]
    cwd, home = tmp_path / "work", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    arg = typed(TAG, tmp_path)
    expected = where(TAG, cwd, home, tmp_path)
    root_before = _root_names()

    code, out = tradeguard(cwd, home, "run", "--no-http", "--duration", "1", "--json",
                           "--data-dir", arg)
    assert code == 0, out
    assert (expected / "tradeguard.db").is_file()
    assert (expected / "logs" / "tradeguard.log").is_file()
    assert (expected / "simulator-state.json").is_file()  # beside the store, not elsewhere
    assert expected.stat().st_mode & 0o777 == 0o700
    assert (expected / "logs").stat().st_mode & 0o777 == 0o700
    last_seq = out["last_seq"]

    for command in ("status", "verify", "journal", "flags"):
        code, res = in_process(cwd, home, command, "--json", "--data-dir", arg)
        assert code == 0, (command, res)
    code, res = in_process(cwd, home, "status", "--json", "--data-dir", arg)
    assert res["last_seq"] == last_seq
    code, res = in_process(cwd, home, "recover", "--json", "--data-dir", arg)
    assert code == 0, res
    assert res["last_seq"] == last_seq
    code, res = tradeguard(cwd, home, "backup", "--json", "--data-dir", arg)
    assert code == 0, res
    backup = Path(res["path"])
    assert backup.parent == expected / "backups"
    assert backup.is_file()

    name = f"{TAG}-restored"
    code, res = in_process(
        cwd, home, "restore", str(backup), "--json", "--data-dir", typed(name, tmp_path)
    )
    assert code == 0, res
    assert (where(name, cwd, home, tmp_path) / "tradeguard.db").is_file()
    code, res = tradeguard(cwd, home, "verify", "--json", "--data-dir", typed(name, tmp_path))
    assert code == 0, res
    assert res["last_seq"] >= last_seq

    assert _root_names() == root_before, "a store command created something at /"


def test_relative_store_url_in_the_config_and_backup_dir_with_tilde(tmp_path: Path) -> None:
    cwd, home = tmp_path / "work", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    (cwd / "tg.toml").write_text(
        f'[storage]\nurl = "sqlite:///{TAG} cfg data"\nbackup_dir = "~/{TAG}-backups"\n'
    )
    code, out = tradeguard(cwd, home, "run", "--no-http", "--duration", "1", "--json",
                           "--config", "tg.toml")
    assert code == 0, out
    data = cwd / f"{TAG} cfg data"
    assert (data / "tradeguard.db").is_file()
    assert (data / "logs" / "tradeguard.log").is_file()
    code, res = in_process(cwd, home, "backup", "--json", "--config", "tg.toml")
    assert code == 0, res
    assert Path(res["path"]).parent == home / f"{TAG}-backups"
    assert not Path(f"/{TAG} cfg data").exists()
