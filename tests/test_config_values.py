"""Config values that parse but would break the service are refused by the loader.

NaN, infinities and out-of-range numbers are rejected with ``file:line: key 'x.y': ...``;
a fuzz test throws arbitrary values at every numeric key: the loader either returns a
config whose numbers are all finite and in range, or raises ``ConfigError`` naming the
key and its line; never anything else.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeguard.config import VALUE_RANGES, Config, check_values, parse_config
from tradeguard.errors import ConfigError


@pytest.mark.parametrize(
    ("toml", "key", "reason"),
    [
        ("[storage]\nbackup_every_seconds = nan\n", "storage.backup_every_seconds", "finite"),
        ("[storage]\nsnapshot_every_seconds = inf\n", "storage.snapshot_every_seconds",
         "finite"),
        ("[reconcile]\nbalance_tolerance = -1\n", "reconcile.balance_tolerance", ">= 0"),
        ('[reconcile]\nbalance_tolerance = "nan"\n', "reconcile.balance_tolerance", "finite"),
        ('[reconcile]\nbalance_tolerance = "-Infinity"\n', "reconcile.balance_tolerance",
         "finite"),
        ("[reconcile]\ninterval_seconds = 0\n", "reconcile.interval_seconds", "> 0"),
        ("[exchange]\ntimeout_ms = -5\n", "exchange.timeout_ms", ">= 1"),
        ("[exchange]\nrate_limit_per_s = nan\n", "exchange.rate_limit_per_s", "finite"),
        ("[log]\nfiles_to_keep = 0\n", "log.files_to_keep", ">= 1"),
        ("[storage]\nbackup_every_seconds = 1e300\n", "storage.backup_every_seconds", "<="),
    ],
)
def test_bad_value_is_refused_with_file_line_and_key(toml: str, key: str, reason: str) -> None:
    text = "# tradeguard\n" + toml
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="tg.toml")
    message = str(info.value)
    assert message.startswith(f"tg.toml:3: key '{key}': "), message
    assert reason in message
    assert "\n" not in message


def _numeric_keys() -> list[str]:
    keys: list[str] = []
    for section in msgspec.structs.fields(Config):
        default = getattr(Config(), section.name)
        for field in msgspec.structs.fields(default):
            value = getattr(default, field.name)
            numeric = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
            optional_number = value is None and field.name.endswith(("_per_s", "_seconds"))
            if numeric or optional_number:
                keys.append(f"{section.encode_name}.{field.encode_name}")
    return keys


NUMERIC_KEYS = _numeric_keys()


def test_every_known_numeric_key_has_a_range() -> None:
    unranged = [k for k in NUMERIC_KEYS if k not in VALUE_RANGES and not k.endswith("_seconds")]
    assert not unranged, f"give these keys a range in config.VALUE_RANGES: {unranged}"


def _toml_number(value: float | int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(_toml_number),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.sampled_from(['"nan"', '"inf"', '"-1"', '"1e400"', '"0"', '"sNaN"', '"abc"', '""',
                     "true", "[]", '"-0"', "0.0", "-0.0"]),
)


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(NUMERIC_KEYS), value=values)
def test_fuzzed_values_are_accepted_only_when_sane(key: str, value: str) -> None:
    section, name = key.split(".")
    text = f"[{section}]\n# a comment\n{name} = {value}\n"
    try:
        config = parse_config(text, source="fuzz.toml")
    except ConfigError as exc:
        message = str(exc)
        # The fuzzed key, on its line; or a rule between keys of its section
        # (e.g. a backoff maximum below its initial value) naming the other key.
        assert message.startswith(f"fuzz.toml:3: key '{key}': ") or re.match(
            rf"fuzz\.toml: key '{section}\.[a-z_]+': ", message), message
        assert "\n" not in message
        return
    assert check_values(config) is None
    loaded = getattr(getattr(config, section), name)
    if loaded is not None:
        finite = loaded.is_finite() if isinstance(loaded, Decimal) else math.isfinite(loaded)
        assert finite


def test_nan_backup_interval_does_not_hang_run(tmp_path: Path) -> None:
    # It used to make `run --duration 5` hang; now it is refused before anything starts.
    config = tmp_path / "tradeguard.toml"
    config.write_text("[storage]\nbackup_every_seconds = nan\n")
    data = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "-m", "tradeguard", "run", "--no-http", "--config", str(config),
         "--data-dir", str(data), "--duration", "5", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "key 'storage.backup_every_seconds'" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert not data.exists()
