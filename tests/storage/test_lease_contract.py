"""The lease contract: SQLite and PostgreSQL pass the same tests.

Each test runs against a real store (a SQLite file, a throwaway PostgreSQL schema). A
lease that must expire gets a TTL of a few tenths of a second and the test polls for
the outcome with a deadline; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tradeguard.errors import LeaseLostError, StaleEpochError, StoreError, StoreNotFoundError
from tradeguard.storage import NewRecord, open_store
from tradeguard.storage.lease import (
    Lease,
    LeaseInfo,
    SessionLease,
    acquire_when_free,
    holder_id,
    open_lease,
)

SHORT_TTL = 0.25
"""Long enough for a step or two, short enough that waiting for expiry costs little."""
LONG_TTL = 30.0
"""Never runs out during a test."""
DEADLINE_S = 10.0


class LeaseBackend:
    """One store of one backend, and the leases (own connections) opened on it."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.store = open_store(url)  # creates and migrates the store
        self._leases: list[SessionLease] = []

    def lease(self) -> SessionLease:
        """A new lease handle with its own connection (as another process would have)."""
        handle = open_lease(self.url)
        self._leases.append(handle)
        return handle

    def close(self) -> None:
        for handle in self._leases:
            handle.close()
        self.store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeaseBackend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store"  # four slashes: absolute
    else:
        url = request.getfixturevalue("pg_url")
    b = LeaseBackend(request.param, url)
    yield b
    b.close()


def rec(i: int) -> NewRecord:
    return NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"p%d" % i)


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds; fail after a generous deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def acquire_eventually(handle: SessionLease, holder: str, ttl_s: float = LONG_TTL) -> Lease:
    """Poll ``acquire`` until it succeeds (the other holder's lease expires)."""
    got: list[Lease] = []

    def attempt() -> bool:
        lease = handle.acquire(holder, ttl_s)
        if lease is not None:
            got.append(lease)
        return bool(got)

    wait_until(attempt, f"{holder} to acquire the lease")
    return got[0]


# --- taking the lease -------------------------------------------------------------------


def test_first_acquire_takes_the_lease_and_advances_the_epoch(backend: LeaseBackend) -> None:
    handle = backend.lease()
    assert handle.read() is None
    before = backend.store.current_epoch()
    lease = handle.acquire("leader-a", LONG_TTL)
    assert lease is not None
    assert lease.holder == "leader-a"
    assert lease.epoch == before + 1 == backend.store.current_epoch()
    info = handle.read()
    assert info is not None
    assert (info.holder, info.epoch, info.live) == ("leader-a", lease.epoch, True)
    assert 0 < info.remaining_s <= LONG_TTL
    assert info.expires_at.utcoffset() is not None  # aware
    # Appends carry the lease's epoch; any other is refused.
    assert backend.store.append([rec(1)], epoch=lease.epoch).first_seq == 1
    with pytest.raises(StaleEpochError):
        backend.store.append([rec(2)], epoch=before)


def test_a_live_lease_refuses_every_other_holder(backend: LeaseBackend) -> None:
    a, b = backend.lease(), backend.lease()
    lease = a.acquire("leader-a", LONG_TTL)
    assert lease is not None
    assert b.acquire("leader-b", LONG_TTL) is None
    assert b.acquire("leader-c", SHORT_TTL) is None
    info = b.read()
    assert info is not None
    assert (info.holder, info.epoch) == ("leader-a", lease.epoch)
    assert backend.store.current_epoch() == lease.epoch  # a refusal moves nothing


def contend_once(handles: list[SessionLease]) -> list[Lease | BaseException | None]:
    """Every handle tries to acquire at the same moment, each in its own thread."""
    barrier = threading.Barrier(len(handles))
    results: list[Lease | BaseException | None] = [None] * len(handles)

    def contend(i: int) -> None:
        barrier.wait()
        try:
            results[i] = handles[i].acquire(f"c{i}", LONG_TTL)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(handles))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_exactly_one_of_concurrent_acquirers_wins(backend: LeaseBackend) -> None:
    handles = [backend.lease() for _ in range(6)]
    for round_no in range(4):
        results = contend_once(handles)
        assert not [r for r in results if isinstance(r, BaseException)], results
        winners = [r for r in results if isinstance(r, Lease)]
        assert len(winners) == 1, f"round {round_no}: {results}"
        winner = winners[0]
        assert backend.store.current_epoch() == winner.epoch
        info = handles[0].read()
        assert info is not None
        assert (info.holder, info.epoch) == (winner.holder, winner.epoch)
        # Hand it back so the next round starts free again.
        owner = handles[int(winner.holder[1:])]
        assert owner.release(winner)


def test_holders_own_reacquire_starts_a_new_term(backend: LeaseBackend) -> None:
    handle = backend.lease()
    first = handle.acquire("leader-a", LONG_TTL)
    assert first is not None
    again = handle.acquire("leader-a", LONG_TTL)
    assert again is not None
    assert again.epoch == first.epoch + 1 == backend.store.current_epoch()
    with pytest.raises(LeaseLostError):
        handle.renew(first)  # the earlier term is fenced like any other holder
    assert handle.renew(again).epoch == again.epoch


# --- renewing ---------------------------------------------------------------------------


def test_renew_extends_the_lease(backend: LeaseBackend) -> None:
    handle = backend.lease()
    lease = handle.acquire("leader-a", LONG_TTL)
    assert lease is not None
    renewed = handle.renew(lease)
    assert (renewed.holder, renewed.epoch, renewed.ttl_s) == ("leader-a", lease.epoch, LONG_TTL)
    assert renewed.expires_at > lease.expires_at
    assert renewed.valid_until_monotonic > lease.valid_until_monotonic
    longer = handle.renew(renewed, ttl_s=2 * LONG_TTL)
    assert longer.ttl_s == 2 * LONG_TTL
    info = handle.read()
    assert info is not None
    assert LONG_TTL < info.remaining_s <= 2 * LONG_TTL
    assert backend.store.current_epoch() == lease.epoch  # renewal never moves the epoch


def test_a_short_lease_kept_renewed_stays_ours(backend: LeaseBackend) -> None:
    a, b = backend.lease(), backend.lease()
    lease = a.acquire("leader-a", 1.0)
    assert lease is not None
    for _ in range(5):
        lease = a.renew(lease)
        assert b.acquire("leader-b", 1.0) is None
    assert a.release(lease)


def test_renew_after_expiry_fails_even_when_nobody_took_over(backend: LeaseBackend) -> None:
    handle = backend.lease()
    lease = handle.acquire("leader-a", SHORT_TTL)
    assert lease is not None

    def expired() -> bool:
        info = handle.read()
        return info is not None and not info.live

    wait_until(expired, "the lease to expire")
    with pytest.raises(LeaseLostError, match="expired"):
        handle.renew(lease)
    # Taking it again is a new term: the epoch moves.
    again = handle.acquire("leader-a", LONG_TTL)
    assert again is not None
    assert again.epoch == lease.epoch + 1


def test_epoch_advanced_without_the_lease_loses_it(backend: LeaseBackend) -> None:
    handle = backend.lease()
    lease = handle.acquire("leader-a", LONG_TTL)
    assert lease is not None
    backend.store.advance_epoch()  # a writer that took over without the lease
    with pytest.raises(LeaseLostError, match="without the lease"):
        handle.renew(lease)


# --- takeover and the fence -------------------------------------------------------------


def test_expired_lease_moves_to_another_holder_and_fences_the_old_one(
    backend: LeaseBackend,
) -> None:
    a, b = backend.lease(), backend.lease()
    old = a.acquire("leader-a", SHORT_TTL)
    assert old is not None
    assert backend.store.append([rec(1)], epoch=old.epoch).first_seq == 1
    new = acquire_eventually(b, "leader-b")
    assert new.epoch > old.epoch
    assert backend.store.current_epoch() == new.epoch
    with pytest.raises(LeaseLostError, match="'leader-b' holds it") as lost:
        a.renew(old)
    assert isinstance(lost.value, StaleEpochError)
    with pytest.raises(StaleEpochError):
        backend.store.append([rec(2)], epoch=old.epoch)
    assert backend.store.append([rec(3)], epoch=new.epoch).first_seq == 2
    assert not a.release(old)  # no longer ours: releasing changes nothing
    info = a.read()
    assert info is not None
    assert (info.holder, info.live) == ("leader-b", True)


def test_appends_racing_a_takeover_never_interleave_epochs(backend: LeaseBackend) -> None:
    a, b = backend.lease(), backend.lease()
    old = a.acquire("leader-a", SHORT_TTL)
    assert old is not None
    acked: list[int] = []
    fenced = threading.Event()

    def old_leader_keeps_writing() -> None:
        for i in itertools.count():
            try:
                acked.append(backend.store.append([rec(i)], epoch=old.epoch).first_seq)
            except StaleEpochError:
                fenced.set()
                return

    writer = threading.Thread(target=old_leader_keeps_writing)
    writer.start()
    try:
        new = acquire_eventually(b, "leader-b")
    finally:
        writer.join(timeout=DEADLINE_S)
    assert fenced.is_set()
    backend.store.append([rec(10_000)], epoch=new.epoch)
    records = list(backend.store.read())
    epochs = [r.epoch for r in records]
    assert epochs == sorted(epochs)
    assert [r.seq for r in records if r.epoch == old.epoch] == acked  # every ack is there
    assert epochs[-1] == new.epoch


def test_release_lets_another_acquire_at_once(backend: LeaseBackend) -> None:
    a, b = backend.lease(), backend.lease()
    lease = a.acquire("leader-a", LONG_TTL)
    assert lease is not None
    assert a.release(lease)
    assert not a.release(lease)  # already released
    info = b.read()
    assert info is not None
    assert not info.live
    taken = b.acquire("leader-b", LONG_TTL)
    assert taken is not None
    assert taken.epoch == lease.epoch + 1
    with pytest.raises(LeaseLostError):
        a.renew(lease)


def test_close_without_release_leaves_the_lease_held(backend: LeaseBackend) -> None:
    a, b = backend.lease(), backend.lease()
    lease = a.acquire("leader-a", LONG_TTL)
    assert lease is not None
    a.close()
    a.close()  # idempotent
    assert b.acquire("leader-b", LONG_TTL) is None
    with pytest.raises(StoreError, match="closed"):
        a.renew(lease)


_CHILD = """
import sys, time
from tradeguard.storage.lease import open_lease
handle = open_lease(sys.argv[1])
lease = handle.acquire(sys.argv[2], float(sys.argv[3]))
print(lease.epoch if lease else "refused", flush=True)
time.sleep(600)
"""


def test_a_crashed_holder_leaves_the_lease_to_expire(backend: LeaseBackend) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, backend.url, "crasher", str(SHORT_TTL)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line.isdigit(), line
        crashed_epoch = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    handle = backend.lease()
    info = handle.read()
    assert info is not None
    assert (info.holder, info.epoch) == ("crasher", crashed_epoch)
    lease = acquire_eventually(handle, "successor")
    assert lease.epoch == crashed_epoch + 1


# --- the local deadline -----------------------------------------------------------------


def test_local_deadline_counts_from_before_the_request(backend: LeaseBackend) -> None:
    handle = backend.lease()
    before = time.monotonic()
    lease = handle.acquire("leader-a", LONG_TTL)
    after = time.monotonic()
    assert lease is not None
    assert before + LONG_TTL <= lease.valid_until_monotonic <= after + LONG_TTL
    end = lease.valid_until_monotonic
    assert lease.safe_for(5.0, now=end - 5.5)
    assert not lease.safe_for(5.0, now=end - 4.5)
    assert not lease.safe_for(0.0, now=end)
    assert lease.remaining_s(now=end - 1.0) == pytest.approx(1.0)
    before = time.monotonic()
    renewed = handle.renew(lease, ttl_s=10.0)
    after = time.monotonic()
    assert before + 10.0 <= renewed.valid_until_monotonic <= after + 10.0


def test_the_local_deadline_ends_before_the_store_lets_anyone_else_in(
    backend: LeaseBackend,
) -> None:
    a, b = backend.lease(), backend.lease()
    lease = a.acquire("leader-a", SHORT_TTL)
    assert lease is not None
    # Whenever another holder gets in, our own deadline has already passed.
    taken = acquire_eventually(b, "leader-b")
    assert not lease.safe_for(0.0)
    assert taken.epoch == lease.epoch + 1


# --- waiting for it (a standby) ---------------------------------------------------------


def test_acquire_when_free_waits_for_the_holder_to_go(backend: LeaseBackend) -> None:
    a, b = backend.lease(), backend.lease()
    held = a.acquire("leader-a", SHORT_TTL)
    assert held is not None
    seen: list[LeaseInfo | None] = []
    lease = asyncio.run(
        acquire_when_free(b, "standby", LONG_TTL, poll_s=0.05, on_wait=seen.append)
    )
    assert lease.holder == "standby"
    assert lease.epoch == held.epoch + 1
    assert seen
    assert seen[0] is not None
    assert seen[0].holder == "leader-a"


# --- arguments and missing stores -------------------------------------------------------


def test_bad_arguments_are_refused(backend: LeaseBackend) -> None:
    handle = backend.lease()
    with pytest.raises(StoreError, match="holder"):
        handle.acquire("", LONG_TTL)
    with pytest.raises(StoreError, match="TTL"):
        handle.acquire("leader-a", 0)
    with pytest.raises(StoreError, match="TTL"):
        handle.acquire("leader-a", 10 * 86_400)
    lease = handle.acquire("leader-a", LONG_TTL)
    assert lease is not None
    open_store(backend.url, session_id="other-session").close()
    with open_lease(backend.url, session_id="other-session") as other:
        with pytest.raises(StoreError, match="used on session"):
            other.renew(lease)
        assert other.read() is None  # sessions have a lease each
    assert handle.renew(lease).epoch == lease.epoch


def test_holder_id_names_the_process() -> None:
    ident = holder_id("run-1")
    assert ident.startswith(f"run-1:{os.getpid()}@")


def test_lease_of_an_unknown_session_or_store_is_refused(
    backend: LeaseBackend, tmp_path: Path
) -> None:
    with pytest.raises(StoreNotFoundError):
        open_lease(backend.url, session_id="nobody")
    with pytest.raises(StoreNotFoundError):
        open_lease(tmp_path / "nothing-here")
    with pytest.raises(StoreError, match="no lease"):
        open_lease("memory://x")


_RACER = """
import sys
from tradeguard.storage.lease import open_lease
handle = open_lease(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # the go signal: every racer is connected and waiting
lease = handle.acquire(sys.argv[2], 30.0)
print(lease.epoch if lease else "refused", flush=True)
"""


def test_exactly_one_of_concurrent_processes_wins(backend: LeaseBackend) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, backend.url, f"proc{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        answers = [racer.communicate(timeout=DEADLINE_S)[0].strip() for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    winners = [a for a in answers if a != "refused"]
    assert len(winners) == 1, answers
    assert int(winners[0]) == backend.store.current_epoch()
