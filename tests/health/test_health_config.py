"""The ``[health]`` table: defaults, strict keys, ranges, NaN, warn/critical order."""

from __future__ import annotations

import pytest

from tradeguard.config import Config, parse_config
from tradeguard.errors import ConfigError
from tradeguard.health.checks import HealthConfig


def test_defaults_when_the_table_is_absent() -> None:
    assert parse_config("").health == HealthConfig()
    assert Config().health.interval_seconds == 30.0


def test_keys_are_read() -> None:
    health = parse_config(
        "[health]\ninterval_seconds = 5\nrss_warn_bytes = 10\nrss_critical_bytes = 20\n"
        "fd_warn_ratio = 0.5\nclock_skew_warn_ms = 100\n"
    ).health
    assert (health.interval_seconds, health.rss_warn_bytes, health.fd_warn_ratio) == (5, 10, 0.5)
    assert health.clock_skew_warn_ms == 100


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[health]\nintervals = 5", "<config>:2: key 'health.intervals': unknown key"),
        ("[health]\ninterval_seconds = 0",
         "<config>:2: key 'health.interval_seconds': must be > 0 and <= 86400, got 0.0"),
        ("[health]\nfd_warn_ratio = nan",
         "<config>:2: key 'health.fd_warn_ratio': must be a finite number, got nan"),
        ("[health]\nfd_critical_ratio = 1.5",
         "<config>:2: key 'health.fd_critical_ratio': must be > 0 and <= 1, got 1.5"),
        ("[health]\ndisk_free_warn_percent = 101\ndisk_free_critical_percent = 50",
         "<config>:2: key 'health.disk_free_warn_percent': must be >= 0 and <= 100, got 101.0"),
        ("[health]\nrss_warn_bytes = \"1GB\"",
         "<config>:2: key 'health.rss_warn_bytes': Expected `int`, got `str`"),
        ("[health]\nsnapshot_age_warn_seconds = inf",
         "<config>:2: key 'health.snapshot_age_warn_seconds': must be a finite number, got inf"),
        ("[health]\nrss_warn_bytes = 5\nrss_critical_bytes = 4",
         "<config>:2: key 'health.rss_warn_bytes': must be <= health.rss_critical_bytes, "
         "got 5 > 4"),
        ("[health]\njournal_append_latency_warn_seconds = 1.0",
         "<config>:2: key 'health.journal_append_latency_warn_seconds': must be <= "
         "health.journal_append_latency_critical_seconds, got 1.0 > 0.5"),
        ("[health]\ndisk_free_warn_bytes = 10\ndisk_free_critical_bytes = 20",
         "<config>:2: key 'health.disk_free_warn_bytes': must be >= "
         "health.disk_free_critical_bytes, got 10 < 20"),
    ],
)
def test_bad_values_name_the_key_and_line(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(toml)
    assert str(caught.value) == message
