"""Properties of the pure diff over random, consistent scenarios (seeded, replayable)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st
from scenarios import random_scenario

from tradeguard.reconcile import ReconcilePolicy, diff

POLICIES = (
    ReconcilePolicy(),
    ReconcilePolicy(external_orders="adopt", unknown_grace_ns=0),
)
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS, which=st.sampled_from((0, 1)))
def test_events_apply_and_a_second_run_changes_nothing(seed: int, which: int) -> None:
    state, snapshot = random_scenario(seed)
    policy = POLICIES[which]
    before = state.copy()
    outcome = diff(state, snapshot, policy, ts_now=snapshot.ts_ns + 1)
    assert state == before, f"seed {seed}: diff changed its input"
    after = state.copy()
    for event in outcome.events:
        after.apply(event)  # raises DomainError (failing the test) if an event does not fit
    again = diff(after, snapshot, policy, ts_now=snapshot.ts_ns + 2)
    assert again.events == (), f"seed {seed}: second run produced {again.events}"
    # The diff drops an event the state refuses; in a consistent scenario none may be.
    for run in (outcome, again):
        refused = [u for u in run.unchecked if "refused" in u.reason]
        assert not refused, f"seed {seed}: {refused}"


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS)
def test_a_failed_fetch_is_never_complete(seed: int) -> None:
    state, snapshot = random_scenario(seed)
    outcome = diff(state, snapshot, ReconcilePolicy(), ts_now=snapshot.ts_ns + 1)
    if snapshot.failures:
        assert not outcome.complete, f"seed {seed}"
        assert outcome.unchecked, f"seed {seed}"
    failed = {(f.what, f.symbol) for f in snapshot.failures}
    for what, symbol in failed:
        checked = "balances" if what == "balances" else f"{what}:{symbol}"
        assert checked not in outcome.checked, f"seed {seed}: {checked} claimed as checked"


def test_scenarios_exercise_every_discrepancy() -> None:
    """The generator is not too tame: across seeds every kind of discrepancy shows up."""
    kinds: set[str] = set()
    for seed in range(300):
        state, snapshot = random_scenario(seed)
        for policy in POLICIES:
            outcome = diff(state, snapshot, policy, ts_now=snapshot.ts_ns + 1)
            kinds.update(type(d).__name__ for d in outcome.discrepancies)
    assert kinds >= {
        "MissingFill", "StateMismatch", "UnknownResolved", "ExternalOrder", "VanishedOrder",
        "PositionMismatch", "BalanceMismatch",
    }, kinds


def test_time_is_integer_nanoseconds() -> None:
    state, snapshot = random_scenario(1)
    assert isinstance(snapshot.ts_ns, int)
    assert snapshot.ts_ns < time.time_ns() * 10
    outcome = diff(state, snapshot, ReconcilePolicy(), ts_now=snapshot.ts_ns + 1)
    assert all(isinstance(e.ts_ns, int) for e in outcome.events)
