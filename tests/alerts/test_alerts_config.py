"""The ``[alerts]`` table: strict keys, apprise-validated URLs, secrets from the environment."""

from __future__ import annotations

import pytest

from tradeguard.alerts.config import AlertsConfig, mask_url, resolve_targets
from tradeguard.config import parse_config
from tradeguard.errors import ConfigError

_GOOD = """\
[alerts]
urls = [
  "json://127.0.0.1:8080/hook",
  "mailto://smtp.example.com:25?to=ops@example.com&from=bot@example.com&mode=insecure",
]
urls_env = ["TRADEGUARD_ALERT_URL"]
cooldown_seconds = 120
min_severity = "critical"
max_per_hour = 10
retry_attempts = 2
retry_backoff_seconds = 0.5
timeout_seconds = 5
"""


def test_a_full_alerts_table_loads() -> None:
    alerts = parse_config(_GOOD).alerts
    assert alerts == AlertsConfig(
        urls=(
            "json://127.0.0.1:8080/hook",
            "mailto://smtp.example.com:25?to=ops@example.com&from=bot@example.com&mode=insecure",
        ),
        urls_env=("TRADEGUARD_ALERT_URL",),
        cooldown_seconds=120,
        min_severity="critical",
        max_per_hour=10,
        retry_attempts=2,
        retry_backoff_seconds=0.5,
        timeout_seconds=5,
    )
    assert alerts.enabled
    assert not parse_config("").alerts.enabled


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[alerts]\nurls = ["json://127.0.0.1/a", "tgram://"]\n',
            "src.toml:2: key 'alerts.urls[1]': not a valid apprise URL: 'tgram://'",
        ),
        (
            '[alerts]\nurls = ["json://ops:pw123@127.0.0.1/a"]\n',
            "src.toml:2: key 'alerts.urls[0]': carries a password; put the URL in an "
            "environment variable named in alerts.urls_env",
        ),
        (
            '[alerts]\nurls_env = ["OK", "not a name"]\n',
            "src.toml:2: key 'alerts.urls_env': must hold environment variable names, "
            "got 'not a name' at index 1",
        ),
        ('[alerts]\nmin_severity = "loud"\n', "src.toml:2: key 'alerts.min_severity': "),
        ("[alerts]\nmax_per_hour = 0\n", "src.toml:2: key 'alerts.max_per_hour': must be >= 1"),
        (
            "[alerts]\ntimeout_seconds = 0\n",
            "src.toml:2: key 'alerts.timeout_seconds': must be > 0",
        ),
        (
            "[alerts]\nretry_attempts = -1\n",
            "src.toml:2: key 'alerts.retry_attempts': must be >= 0",
        ),
        ("[alerts]\nurl = []\n", "src.toml:2: key 'alerts.url': unknown key"),
    ],
)
def test_bad_alerts_keys_are_one_line_errors_naming_the_key(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(toml, source="src.toml")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_password_is_never_echoed_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[alerts]\nurls = ["json://ops:pw123456@127.0.0.1/a"]\n')
    assert "pw123456" not in str(caught.value)


def test_env_urls_are_resolved_validated_and_masked() -> None:
    config = AlertsConfig(urls=("json://127.0.0.1:9/a?+X-Token=abc",), urls_env=("A", "B"))
    targets = resolve_targets(
        config, {"A": "tgram://123456789:AAHsecretbottoken/4242", "B": "json://u:p4ssw0rd@h/x"}
    )
    assert [t.label for t in targets] == [
        "json://127.0.0.1:9/a",
        "$A (tgram://***)",
        "$B (json://***)",
    ]
    assert [t.secret for t in targets] == [False, True, True]
    assert "p4ssw0rd" not in repr(targets)
    with pytest.raises(ConfigError) as caught:
        resolve_targets(config, {"A": "nonsense-with-s3cret", "B": "json://h/x"})
    assert str(caught.value) == (
        "key 'alerts.urls_env[0]': environment variable A does not hold a valid apprise URL"
    )
    assert "s3cret" not in str(caught.value)


def test_mask_url_drops_user_info_and_query() -> None:
    assert mask_url("json://u:p@example.com:81/hook?+X-Token=abc") == "json://example.com:81/hook"
    assert mask_url("mailto://127.0.0.1:25?to=a@b") == "mailto://127.0.0.1:25"
