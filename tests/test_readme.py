"""The README and docs stay true to the code: config keys, commands, options, links.

Docs drift when nothing checks them. These tests read README.md as a user would and
hold it against the code: the config example lists every key the loader knows (with its
default), the command table names every command and only options that exist, the quick
start is two commands, and the docs stand alone (nothing outside the repository cited).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.main import get_command

from tradeguard.cli.main import app
from tradeguard.config import Config, parse_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = get_command(app).commands  # type: ignore[attr-defined]


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.DOTALL)


def config_example() -> str:
    blocks = code_blocks(section("Configuration"), "toml")
    assert len(blocks) == 1, "the Configuration section has one TOML example"
    return blocks[0]


def config_keys(obj: msgspec.Struct, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for field in msgspec.structs.fields(obj):
        value = getattr(obj, field.name)
        key = f"{prefix}{field.encode_name}"
        if isinstance(value, msgspec.Struct):
            keys.extend(config_keys(value, f"{key}."))
        else:
            keys.append(key)
    return keys


def example_keys(text: str) -> tuple[set[str], set[str]]:
    """(keys set in the example, keys shown commented out as ``# key = ...``)."""
    written: set[str] = set()
    commented: set[str] = set()
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        header = re.match(r"\[([A-Za-z0-9_.]+)\]", line)
        if header:
            table = header.group(1)
            written.add(table)
            continue
        assignment = re.match(r"(#\s*)?([A-Za-z0-9_]+)\s*=", line)
        if assignment:
            target = commented if assignment.group(1) else written
            target.add(f"{table}.{assignment.group(2)}" if table else assignment.group(2))
    return written, commented


def test_every_config_key_is_in_the_readme_example() -> None:
    written, commented = example_keys(config_example())
    missing = [k for k in config_keys(Config()) if k not in written | commented]
    assert not missing, f"README's config example lacks {missing}"
    unknown = sorted(k for k in written if "." in k and not k.startswith("strategy.params.")
                     and k not in config_keys(Config()) and k != "strategy.params")
    assert not unknown, f"README's config example has keys the code does not know: {unknown}"


def test_the_readme_example_is_a_valid_config_with_the_defaults() -> None:
    text = config_example()
    config = parse_config(text, source="README.md")
    # The example shows the defaults, except the strategy parameters, which spell out
    # the sample grid's own defaults (the config's default is "none given").
    example = msgspec.to_builtins(config)
    defaults = msgspec.to_builtins(Config())
    example["strategy"].pop("params")
    defaults["strategy"].pop("params")
    assert example == defaults
    from tradeguard.strategies.grid import Grid

    params: dict[str, Any] = tomllib.loads(text)["strategy"]["params"]
    grid = Grid(**params)
    assert grid == Grid() or vars(grid) == vars(Grid())


def test_quick_start_is_exactly_two_commands() -> None:
    blocks = code_blocks(section("Quick start"), "sh")
    assert len(blocks) == 1
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert [c for c in commands if c] == ["make run", "make test"]


def test_readme_says_how_to_run_tradeguard_from_the_venv() -> None:
    assert ".venv/bin/tradeguard" in README
    assert "source .venv/bin/activate" in README


def command_rows() -> list[tuple[str, str]]:
    rows = []
    for line in section("Command line").splitlines():
        match = re.match(r"\| `tradeguard ([a-z-]+)([^`]*)`", line)
        if match:
            rows.append((match.group(1), line))
    return rows


def test_every_command_is_documented_and_every_documented_one_exists() -> None:
    documented = {name for name, _ in command_rows()}
    assert documented == set(COMMANDS), (
        f"undocumented: {set(COMMANDS) - documented}; not a command: "
        f"{documented - set(COMMANDS)}"
    )


@pytest.mark.parametrize(("name", "row"), command_rows())
def test_documented_options_exist(name: str, row: str) -> None:
    options = {opt for param in COMMANDS[name].params for opt in getattr(param, "opts", [])}
    for option in set(re.findall(r"(--[a-z][a-z-]*)", row)):
        assert option in options, f"README shows `tradeguard {name} {option}`, which it lacks"


def test_commands_without_config_are_named_truthfully() -> None:
    text = section("Command line")
    for name, takes in (("sim", False), ("chaos", False), ("status", True), ("run", True)):
        options = {o for p in COMMANDS[name].params for o in getattr(p, "opts", [])}
        assert ("--config" in options) is takes, name
    assert "`sim` is a\nstand-alone exchange" in text or "`sim` is a stand-alone" in text
    assert "`chaos`" in text


DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "examples").glob("*.py"))]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_docs_cite_nothing_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert "/work/" not in text


def test_files_the_readme_names_exist() -> None:
    for name in set(re.findall(r"`((?:docs|examples|tests|bench)/[A-Za-z0-9_./-]+)`", README)):
        assert (ROOT / name.rstrip("/")).exists(), f"README names {name}, which is missing"
    assert (ROOT / "docs" / "DESIGN.md").exists()
    assert "docs/DESIGN.md" in README


def test_the_session_example_runs_as_written(tmp_path: Path) -> None:
    """The README's library example, run as a script in an empty directory: it needs no
    credentials (the built-in simulator) and leaves a store that verifies."""
    blocks = code_blocks(section("Trading through a Session"), "python")
    assert len(blocks) == 1
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRADEGUARD_API_KEY", "TRADEGUARD_API_SECRET")}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    verify = subprocess.run([sys.executable, "-m", "tradeguard", "verify", "--json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            check=False, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
