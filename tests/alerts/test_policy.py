"""The alert policy: cool-down per key, de-duplication, severity floor, hourly cap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeguard.alerts.policy import SEVERITY_RANK, Alert, AlertPolicy

_S = 10**9
_KEYS = st.sampled_from(["a", "b", "c"])
_SEVERITIES = st.sampled_from(["info", "warning", "critical"])


def _alert(key: str, ts_ns: int, severity: str = "critical") -> Alert:
    return Alert(key=key, severity=severity, title=f"t {key}", body="b", ts_ns=ts_ns)  # type: ignore[arg-type]


# (key, severity, seconds after the previous alert); time only moves forward.
_streams = st.lists(st.tuples(_KEYS, _SEVERITIES, st.integers(0, 400)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(stream=_streams, cooldown=st.integers(0, 600), cap=st.integers(1, 10), floor=_SEVERITIES)
def test_never_two_sends_of_one_key_within_the_cooldown(
    stream: list[tuple[str, str, int]], cooldown: int, cap: int, floor: str
) -> None:
    policy = AlertPolicy(cooldown_seconds=cooldown, min_severity=floor, max_per_hour=cap)  # type: ignore[arg-type]
    now = 0
    sends: list[tuple[str, int]] = []
    for key, severity, gap in stream:
        now += gap * _S
        decision = policy.decide(_alert(key, now, severity), now)
        if decision.send:
            assert SEVERITY_RANK[severity] >= SEVERITY_RANK[floor]
            sends.append((key, now))
        else:
            assert decision.reason is not None
    for i, (key, at) in enumerate(sends):
        for later_key, later in sends[i + 1 :]:
            if later_key == key:
                assert later - at >= cooldown * _S
    # At most ``cap`` sends in any hour.
    for i, (_, at) in enumerate(sends):
        assert sum(1 for _, t in sends[i:] if t - at < 3600 * _S) <= cap
    # Every alert is either sent or counted as suppressed.
    assert policy.sent == len(sends)
    assert policy.sent + sum(policy.suppressed.values()) == len(stream)


@given(ts=st.integers(0, 10**18), key=_KEYS)
def test_a_replayed_alert_is_a_duplicate(ts: int, key: str) -> None:
    policy = AlertPolicy(cooldown_seconds=0)
    assert policy.decide(_alert(key, ts), ts).send
    again = policy.decide(_alert(key, ts), ts + 10**12)
    assert (again.send, again.reason) == (False, "duplicate")
    assert policy.suppressed["duplicate"] == 1


def test_each_reason_is_counted() -> None:
    policy = AlertPolicy(cooldown_seconds=60, min_severity="warning", max_per_hour=2)
    assert policy.decide(_alert("x", 1), 0).send
    assert policy.decide(_alert("x", 2), 30 * _S).reason == "cooldown"
    assert policy.decide(_alert("y", 3, "info"), 31 * _S).reason == "severity"
    assert policy.decide(_alert("y", 4), 32 * _S).send
    assert policy.decide(_alert("z", 5), 33 * _S).reason == "rate"
    assert policy.decide(_alert("x", 6), 61 * _S).reason == "rate"
    # The hour after the first send its slot is free again.
    assert policy.decide(_alert("z", 7), 3600 * _S).send
    assert policy.suppress_already_sent(_alert("q", 8)).reason == "already_sent"
    assert dict(policy.suppressed) == {"cooldown": 1, "severity": 1, "rate": 2, "already_sent": 1}
    assert policy.sent == 3


def test_a_clock_stepping_back_stays_inside_the_cooldown() -> None:
    policy = AlertPolicy(cooldown_seconds=60)
    assert policy.decide(_alert("x", 1), 1000 * _S).send
    assert policy.decide(_alert("x", 2), 10 * _S).reason == "cooldown"


def test_restored_sends_keep_their_cooldown_and_cap() -> None:
    policy = AlertPolicy(cooldown_seconds=300, max_per_hour=2)
    policy.restore([("x", 100 * _S), ("y", 120 * _S)])
    assert policy.decide(_alert("x", 5), 200 * _S).reason == "cooldown"
    assert policy.decide(_alert("z", 6), 200 * _S).reason == "rate"
    assert policy.decide(_alert("x", 7), 3700 * _S).send
