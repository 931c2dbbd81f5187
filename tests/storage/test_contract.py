"""The one storage contract suite: every backend (memory, SQLite, PostgreSQL) must pass it."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from tradeguard.errors import StaleEpochError, StoreClosedError, StoreError
from tradeguard.storage import (
    GENESIS_CRC,
    LATEST_VERSION,
    NewRecord,
    Store,
    StoredRecord,
    chain_crc,
    list_backups,
    open_store,
    restore_backup,
    snapshot_crc,
    take_backup,
)
from tradeguard.storage.groupcommit import Job
from tradeguard.storage.memory import forget_memory_store
from tradeguard.storage.writerstore import WriterStore


class Backend:
    """Opens stores of one backend; ``fresh_url`` makes another empty location."""

    def __init__(self, name: str, make_url: Callable[[], str]) -> None:
        self.name = name
        self._make_url = make_url
        self.url = make_url()
        self._opened: list[Store] = []

    def fresh_url(self) -> str:
        return self._make_url()

    def open(self, url: str | None = None, **kwargs: object) -> WriterStore:
        store = open_store(url or self.url, **kwargs)  # type: ignore[arg-type]
        assert isinstance(store, WriterStore)
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    names: list[str] = []
    if request.param == "memory":

        def make() -> str:
            names.append(f"contract-{uuid.uuid4().hex}")
            return f"memory://{names[-1]}"

    elif request.param == "sqlite":
        counter = itertools.count()

        def make() -> str:
            return f"sqlite:///{tmp_path}/store-{next(counter)}"  # four slashes: absolute

    else:
        make = request.getfixturevalue("pg_url_factory")
    b = Backend(request.param, make)
    yield b
    b.close_all()
    for name in names:
        forget_memory_store(name)


@pytest.fixture
def store(backend: Backend) -> WriterStore:
    return backend.open()


def rec(i: int, kind: str = "test.Event") -> NewRecord:
    return NewRecord(
        type=kind, version=1, ts_ns=1_700_000_000_000_000_000 + i, payload=f"payload-{i}".encode()
    )


def assert_chain(records: list[StoredRecord], first_seq: int = 1) -> None:
    """Seqs gapless from ``first_seq`` and every crc chained from its predecessor."""
    crc = GENESIS_CRC
    for expected_seq, r in enumerate(records, start=first_seq):
        assert r.seq == expected_seq
        crc = chain_crc(
            crc,
            seq=r.seq,
            type=r.type,
            version=r.version,
            ts_ns=r.ts_ns,
            epoch=r.epoch,
            payload=r.payload,
        )
        assert r.crc == crc, f"chain broken at seq {r.seq}"


# --- journal ----------------------------------------------------------------------------


def test_new_store_is_empty(store: WriterStore) -> None:
    assert store.last_seq() == 0
    assert store.last_record() is None
    assert list(store.read()) == []
    assert store.current_epoch() == 0
    assert store.snapshots() == []
    assert store.last_run() is None
    assert store.quarantined() == []
    assert store.schema_version() == LATEST_VERSION


def test_gapless_seqs_and_chained_crc(store: WriterStore) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    expected = 0
    for _ in range(20):
        n = rng.randint(1, 7)
        res = store.append([rec(expected + i) for i in range(n)], epoch=0)
        assert (res.first_seq, res.last_seq) == (expected + 1, expected + n), f"seed={seed}"
        expected += n
    records = list(store.read())
    assert len(records) == expected
    assert_chain(records)
    assert [r.payload for r in records] == [f"payload-{i}".encode() for i in range(expected)]
    assert store.last_seq() == expected
    assert store.last_record() == records[-1]


def test_read_paging(store: WriterStore) -> None:
    # More than one internal page (10,000 rows) so the keyset paging is exercised.
    total = 25_001
    store.append([rec(i) for i in range(total)], epoch=0)
    assert [r.seq for r in store.read(after_seq=24_990)] == list(range(24_991, 25_002))
    assert [r.seq for r in store.read(after_seq=5, limit=3)] == [6, 7, 8]
    assert [r.seq for r in store.read(limit=0)] == []
    assert list(store.read(after_seq=total)) == []
    many = list(store.read(after_seq=100, limit=15_000))
    assert [r.seq for r in many] == list(range(101, 15_101))
    everything = list(store.read())
    assert len(everything) == total
    assert_chain(everything)


def test_failure_midway_through_a_batch_writes_nothing(store: WriterStore) -> None:
    store.append([rec(0)], epoch=0)

    def explode_on_boom(job: Job) -> None:
        # Runs after the job's rows were inserted: the savepoint must undo them.
        if any(r.type == "boom" for r in job.records):
            raise RuntimeError("injected failure after the insert")

    store.writer.before_release = explode_on_boom
    with pytest.raises(StoreError, match="injected failure"):
        store.append([rec(1), rec(2), rec(3, "boom")], epoch=0)
    assert store.last_seq() == 1
    # A payload of the wrong type fails inside the batch too.
    bad = NewRecord(type="x", version=1, ts_ns=0, payload="not bytes")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.append([rec(4), bad], epoch=0)
    assert store.last_seq() == 1
    # The counters were rolled back: the next append continues the chain at seq 2.
    assert store.append([rec(5)], epoch=0).first_seq == 2
    assert_chain(list(store.read()))
    assert store.stats().failed_jobs == 2


def test_failed_job_does_not_affect_others_in_the_same_group(store: WriterStore) -> None:
    def explode_on_boom(job: Job) -> None:
        if any(r.type == "boom" for r in job.records):
            raise RuntimeError("boom")

    store.writer.before_release = explode_on_boom
    futures = []
    with store.writer.paused():
        futures.append(store.submit([rec(1)], epoch=0))
        futures.append(store.submit([rec(2), rec(3, "boom")], epoch=0))
        futures.append(store.submit([rec(4), rec(5)], epoch=0))
        futures.append(store.submit([rec(6)], epoch=1))  # stale epoch
        store.writer.wait_queued(4)
    assert futures[0].result().first_seq == 1
    with pytest.raises(StoreError, match="boom"):
        futures[1].result()
    assert (futures[2].result().first_seq, futures[2].result().last_seq) == (2, 3)
    with pytest.raises(StaleEpochError):
        futures[3].result()
    records = list(store.read())
    assert [r.payload for r in records] == [b"payload-1", b"payload-4", b"payload-5"]
    assert_chain(records)
    assert store.stats().commits == 1


def test_32_threads_all_acked_present_once(store: WriterStore) -> None:
    acked: list[tuple[int, int, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for k in range(10):
                n = 1 + (t + k) % 3
                res = store.append([rec(t * 1000 + k * 10 + i) for i in range(n)], epoch=0)
                with lock:
                    acked.append((res.first_seq, res.last_seq, n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(32)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert all(last - first + 1 == n for first, last, n in acked)
    seqs = sorted(s for first, last, _ in acked for s in range(first, last + 1))
    assert seqs == list(range(1, len(seqs) + 1))
    records = list(store.read())
    assert [r.seq for r in records] == seqs
    assert_chain(records)
    assert store.stats().appends == 320


def test_thread_appends_queued_together_share_one_commit(store: WriterStore) -> None:
    before = store.stats().commits
    results = []
    with store.writer.paused():
        threads = [
            threading.Thread(target=lambda i=i: results.append(store.append([rec(i)], epoch=0)))
            for i in range(32)
        ]
        for th in threads:
            th.start()
        store.writer.wait_queued(32)
    for th in threads:
        th.join()
    assert sorted(r.first_seq for r in results) == list(range(1, 33))
    assert store.stats().commits == before + 1
    assert store.stats().max_group >= 32


async def test_200_asyncio_tasks_share_commits(store: WriterStore) -> None:
    results = await asyncio.gather(*[store.append_async([rec(i)], epoch=0) for i in range(200)])
    assert sorted(r.first_seq for r in results) == list(range(1, 201))
    stats = store.stats()
    # 200 tasks enqueue without yielding to each other: they cannot need 200 commits.
    assert stats.commits < 200
    assert stats.appends == 200
    assert_chain(list(store.read()))


async def test_asyncio_tasks_queued_together_commit_once(store: WriterStore) -> None:
    with store.writer.paused():
        tasks = [asyncio.create_task(store.append_async([rec(i)], epoch=0)) for i in range(200)]
        await asyncio.sleep(0)
        await asyncio.to_thread(store.writer.wait_queued, 200)
    results = await asyncio.gather(*tasks)
    # Submission order is commit order.
    assert [r.first_seq for r in results] == list(range(1, 201))
    assert store.stats().commits == 1


# --- epoch -------------------------------------------------------------------------------


def test_stale_epoch_rejected_and_nothing_written(store: WriterStore) -> None:
    store.append([rec(0)], epoch=0)
    with pytest.raises(StaleEpochError):
        store.append([rec(1), rec(2)], epoch=7)
    assert store.last_seq() == 1
    assert store.append([rec(3)], epoch=0).first_seq == 2


def test_advance_epoch_fences_the_old_writer(backend: Backend) -> None:
    old = backend.open()
    old.append([rec(0)], epoch=0)
    new = backend.open()
    assert new.advance_epoch() == 1
    assert old.current_epoch() == 1
    with pytest.raises(StaleEpochError):
        old.append([rec(1)], epoch=0)
    res = new.append([rec(2)], epoch=1)
    assert res.first_seq == 2
    records = list(new.read())
    assert [r.epoch for r in records] == [0, 1]
    assert_chain(records)


def test_second_writer_with_the_same_epoch_cannot_fork(backend: Backend) -> None:
    a = backend.open()
    b = backend.open()  # opened before a appends: its idea of the next seq is stale
    a.append([rec(0)], epoch=0)
    with pytest.raises(StoreError):
        b.append([rec(1)], epoch=0)
    records = list(a.read())
    assert [r.payload for r in records] == [b"payload-0"]


# --- snapshots, quarantine, run markers --------------------------------------------------


def test_snapshots_keep_newest_k(store: WriterStore) -> None:
    for seq in (10, 20, 30, 40, 50):
        store.save_snapshot(seq, 2, f"state@{seq}".encode(), keep=3)
    infos = store.snapshots()
    assert [s.seq for s in infos] == [50, 40, 30]
    snap = store.load_snapshot(40)
    assert snap.payload == b"state@40"
    assert snap.version == 2
    assert infos[1].size == len(b"state@40")
    assert snap.crc == snapshot_crc(seq=40, version=2, ts_ns=snap.ts_ns, payload=snap.payload)
    with pytest.raises(StoreError):
        store.load_snapshot(10)
    with pytest.raises(StoreError):
        store.save_snapshot(60, 2, b"x", keep=0)


def test_quarantine_then_append_continues_the_chain(store: WriterStore) -> None:
    store.append([rec(i) for i in range(10)], epoch=0)
    original = list(store.read())
    assert store.quarantine_from(8, "torn tail") == 3
    assert store.last_seq() == 7
    q = store.quarantined()
    assert [x.seq for x in q] == [8, 9, 10]
    assert all(x.reason == "torn tail" for x in q)
    assert [msgspec.msgpack.decode(x.raw, type=StoredRecord) for x in q] == original[7:]
    assert store.quarantine_from(100, "nothing there") == 0
    res = store.append([rec(100), rec(101)], epoch=0)
    assert (res.first_seq, res.last_seq) == (8, 9)
    assert_chain(list(store.read()))
    # Quarantining from the very start resets the chain to genesis.
    assert store.quarantine_from(1, "all bad") == 9
    assert store.append([rec(200)], epoch=0).first_seq == 1
    assert_chain(list(store.read()))
    assert len(store.quarantined()) == 12


def test_run_markers_clean_and_unclean(store: WriterStore) -> None:
    assert store.begin_run("run-1") is None
    prev = store.begin_run("run-2")  # run-1 never ended: unclean
    assert prev is not None
    assert prev.run_id == "run-1"
    assert not prev.clean
    store.end_run("run-2")
    prev = store.begin_run("run-3")
    assert prev is not None
    assert prev.run_id == "run-2"
    assert prev.clean
    last = store.last_run()
    assert last is not None
    assert last.run_id == "run-3"
    assert last.pid > 0
    assert last.hostname
    assert [r.run_id for r in store.runs()] == ["run-1", "run-2", "run-3"]
    with pytest.raises(StoreError):
        store.end_run("no-such-run")


# --- backup, restore, reopen, lifecycle --------------------------------------------------


def _fill(store: WriterStore) -> None:
    store.append([rec(i) for i in range(20)], epoch=0)
    store.save_snapshot(10, 1, b"state-10", keep=3)
    store.begin_run("r1")
    store.quarantine_from(19, "test")
    epoch = store.advance_epoch()
    store.append([rec(50)], epoch=epoch)
    store.end_run("r1")


def _contents(store: Store) -> tuple[object, ...]:
    snaps = [store.load_snapshot(s.seq) for s in store.snapshots()]
    return (list(store.read()), snaps, store.runs(), store.quarantined(), store.current_epoch())


def test_backup_and_restore_round_trip(backend: Backend, tmp_path: Path) -> None:
    source = backend.open()
    _fill(source)
    backup_dir = tmp_path / "backups"
    paths = [take_backup(source, backup_dir, keep=2) for _ in range(3)]
    assert list_backups(backup_dir) == [paths[2], paths[1]]
    assert (paths[2].stat().st_mode & 0o777) == 0o600
    targets = [backend.fresh_url(), str(tmp_path / "restored-sqlite")]
    for target_url in targets:
        assert restore_backup(paths[2], target_url) == 19
        target = backend.open(target_url)
        assert _contents(target) == _contents(source)
        # The restored store keeps working where the source left off.
        assert target.append([rec(99)], epoch=1).first_seq == 20
        assert_chain(list(target.read()))
        with pytest.raises(StoreError, match="not empty"):
            restore_backup(paths[2], target_url)


def test_reopen_keeps_everything(backend: Backend) -> None:
    store = backend.open()
    _fill(store)
    before = _contents(store)
    store.close()
    again = backend.open()
    assert _contents(again) == before
    assert again.schema_version() == LATEST_VERSION
    assert again.append([rec(77)], epoch=1).first_seq == 20
    records = list(again.read())
    assert [r.seq for r in records] == list(range(1, 21))
    assert_chain(records)


def test_closed_store_refuses_calls(store: WriterStore) -> None:
    store.append([rec(0)], epoch=0)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreClosedError):
        store.append([rec(1)], epoch=0)
    with pytest.raises(StoreClosedError):
        store.last_seq()


def test_close_finishes_queued_appends(store: WriterStore) -> None:
    with store.writer.paused():
        futures = [store.submit([rec(i)], epoch=0) for i in range(5)]
        store.writer.wait_queued(5)
        closer = threading.Thread(target=store.close)
        closer.start()
    closer.join()
    assert [f.result().first_seq for f in futures] == [1, 2, 3, 4, 5]


async def test_cancelled_waiter_does_not_break_the_writer(store: WriterStore) -> None:
    with store.writer.paused():
        doomed = asyncio.create_task(store.append_async([rec(1)], epoch=0))
        others = [asyncio.create_task(store.append_async([rec(i)], epoch=0)) for i in (2, 3)]
        await asyncio.sleep(0)
        await asyncio.to_thread(store.writer.wait_queued, 3)
        doomed.cancel()
    results = await asyncio.gather(*others)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    # Only the waiting was abandoned; the queued write itself still happened, in order.
    assert [r.first_seq for r in results] == [2, 3]
    assert store.last_seq() == 3
    assert (await store.append_async([rec(4)], epoch=0)).first_seq == 4


# --- group commit mechanics: who commits, combined inserts, FIFO across kinds -------------


def _committing_threads(store: WriterStore) -> list[str]:
    names: list[str] = []
    store.writer.before_release = lambda job: names.append(threading.current_thread().name)
    return names


def test_idle_append_commits_in_the_callers_own_thread(store: WriterStore) -> None:
    names = _committing_threads(store)
    store.append([rec(1)], epoch=0)
    store.submit([rec(2)], epoch=0).result()
    assert names[0] == threading.current_thread().name
    assert names[1].startswith("tradeguard-writer")
    stats = store.stats()
    assert (stats.commits, stats.caller_commits) == (2, 1)


def test_append_sizes_around_the_statement_limits(store: WriterStore) -> None:
    total = 0
    for n in (1, 2, 99, 100, 101, 250, 399, 400, 401, 1):
        res = store.append([rec(total + i) for i in range(n)], epoch=0)
        assert (res.first_seq, res.last_seq) == (total + 1, total + n)
        total += n
    records = list(store.read())
    assert [r.payload for r in records] == [f"payload-{i}".encode() for i in range(total)]
    assert_chain(records)


def test_a_bad_append_in_a_combined_insert_fails_alone(store: WriterStore) -> None:
    bad = NewRecord(type="x", version=1, ts_ns=0, payload="not bytes")  # type: ignore[arg-type]
    with store.writer.paused():
        good = [store.submit([rec(i), rec(i + 100)], epoch=0) for i in range(3)]
        doomed = store.submit([rec(50), bad], epoch=0)
        good += [store.submit([rec(i)], epoch=0) for i in range(3, 6)]
        store.writer.wait_queued(7)
    with pytest.raises(StoreError):
        doomed.result()
    assert [f.result().first_seq for f in good] == [1, 3, 5, 7, 8, 9]
    records = list(store.read())
    assert len(records) == 9
    assert b"payload-50" not in [r.payload for r in records]
    assert_chain(records)
    stats = store.stats()
    assert (stats.commits, stats.failed_jobs, stats.appends) == (1, 1, 6)


def test_a_failed_combined_insert_is_redone_one_job_at_a_time(store: WriterStore) -> None:
    calls: list[bytes] = []

    def fail_first_time(job: Job) -> None:
        calls.append(job.records[0].payload)
        if job.records[0].payload == b"payload-2" and calls.count(b"payload-2") == 1:
            raise RuntimeError("transient")

    store.writer.before_release = fail_first_time
    with store.writer.paused():
        futures = [store.submit([rec(i)], epoch=0) for i in range(4)]
        store.writer.wait_queued(4)
    # The fast run failed at job 2 and was rolled back; the careful rerun (one savepoint
    # per job) then succeeded for everyone, still in one commit.
    assert [f.result().first_seq for f in futures] == [1, 2, 3, 4]
    stats = store.stats()
    assert (stats.commits, stats.fallback_groups, stats.failed_jobs) == (1, 1, 0)
    assert_chain(list(store.read()))


def test_jobs_of_every_kind_in_one_group_commit_in_submit_order(store: WriterStore) -> None:
    with store.writer.paused():
        first = store.submit([rec(1)], epoch=0)
        taker = threading.Thread(target=store.advance_epoch)
        taker.start()
        store.writer.wait_queued(2)
        after = store.submit([rec(2), rec(3)], epoch=1)
        stale = store.submit([rec(4)], epoch=0)
        store.writer.wait_queued(4)
    taker.join()
    assert first.result().first_seq == 1
    assert (after.result().first_seq, after.result().last_seq) == (2, 3)
    with pytest.raises(StaleEpochError):
        stale.result()
    records = list(store.read())
    assert [r.epoch for r in records] == [0, 1, 1]
    assert_chain(records)
    assert store.current_epoch() == 1
    assert store.stats().commits == 1


def test_submit_order_holds_while_callers_lead(store: WriterStore) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    stop = threading.Event()
    leader_seqs: list[int] = []

    def leader() -> None:
        while not stop.is_set():
            leader_seqs.append(store.append([rec(0)], epoch=0).first_seq)

    thread = threading.Thread(target=leader)
    thread.start()
    try:
        futures = [store.submit([rec(i)] * rng.randint(1, 3), epoch=0) for i in range(300)]
        firsts = [f.result().first_seq for f in futures]
    finally:
        stop.set()
        thread.join()
    assert firsts == sorted(firsts), f"seed={seed}"
    assert leader_seqs == sorted(leader_seqs), f"seed={seed}"
    assert store.stats().caller_commits > 0
    assert_chain(list(store.read()))


def test_close_waits_for_a_committing_caller(store: WriterStore) -> None:
    inside, release = threading.Event(), threading.Event()

    def hold(job: Job) -> None:
        inside.set()
        assert release.wait(10)

    store.writer.before_release = hold
    results: list[int] = []
    appender = threading.Thread(
        target=lambda: results.append(store.append([rec(1)], epoch=0).first_seq)
    )
    appender.start()
    assert inside.wait(10)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)  # close cannot finish while the caller is mid-commit
    assert closer.is_alive()
    release.set()
    appender.join()
    closer.join()
    assert results == [1]
    with pytest.raises(StoreClosedError):
        store.append([rec(2)], epoch=0)


async def test_submit_async_queues_at_once_in_order_with_submit(store: WriterStore) -> None:
    with store.writer.paused():
        mixed: list[object] = []
        for i in range(6):
            if i % 2:
                mixed.append(store.submit([rec(i)], epoch=0))
            else:
                mixed.append(store.submit_async([rec(i)], epoch=0))
        # Queued synchronously by the calls themselves, before anything was awaited.
        await asyncio.to_thread(store.writer.wait_queued, 6)
    firsts = []
    for fut in mixed:
        if isinstance(fut, asyncio.Future):
            firsts.append((await fut).first_seq)
        else:
            firsts.append((await asyncio.wrap_future(fut)).first_seq)  # type: ignore[arg-type]
    assert firsts == [1, 2, 3, 4, 5, 6]
    assert store.stats().commits == 1
