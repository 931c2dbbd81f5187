"""The PostgreSQL lease: the server's clock decides, connections fail fast and recover."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from urllib.parse import quote

import psycopg
import pytest

from tradeguard.errors import LeaseLostError, StoreError, StoreFailedError
from tradeguard.storage import NewRecord, PostgresStore
from tradeguard.storage.groupcommit import Job
from tradeguard.storage.lease import Lease
from tradeguard.storage.lease_postgres import PostgresLease
from tradeguard.storage.postgres import split_store_url

TTL = 30.0


def _admin(pg_url: str) -> psycopg.Connection[tuple[object, ...]]:
    server, _, query = pg_url.partition("?")
    schema = query.removeprefix("schema=")
    conn = psycopg.connect(server, autocommit=True)
    conn.execute(f'SET search_path TO "{schema}"')
    return conn


def test_expiry_is_computed_by_the_server_not_the_client(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    PostgresStore(pg_url).close()
    with _admin(pg_url) as admin, PostgresLease(pg_url) as lease_store:
        server_before = admin.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        # A client clock an hour off changes nothing: no client time goes into the row.
        skewed = time.time() + 3600
        monkeypatch.setattr(time, "time", lambda: skewed)
        monkeypatch.setattr(time, "time_ns", lambda: int(skewed * 1e9))
        lease = lease_store.acquire("leader-a", TTL)
        assert lease is not None
        lease = lease_store.renew(lease)
        monkeypatch.undo()
        server_after = admin.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        row = admin.execute(
            "SELECT acquired_at, renewed_at, expires_at FROM leases WHERE session_id = 'default'"
        ).fetchone()
    assert row is not None
    acquired_at, renewed_at, expires_at = row
    ttl = timedelta(seconds=TTL)
    assert server_before <= acquired_at <= renewed_at <= server_after
    assert expires_at - renewed_at == ttl  # both from clock_timestamp() in one statement
    assert server_before + ttl <= lease.expires_at <= server_after + ttl


def test_a_lost_connection_fails_one_step_and_the_next_reconnects(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with _admin(pg_url) as admin, PostgresLease(pg_url) as lease_store:
        lease = lease_store.acquire("leader-a", TTL)
        assert lease is not None
        pid = lease_store._conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match="outcome unknown") as failed:
            lease_store.renew(lease)
        assert not isinstance(failed.value, LeaseLostError)
        renewed = lease_store.renew(lease)  # renewal is idempotent: retry it
        assert renewed.epoch == lease.epoch


def test_a_writer_frozen_in_its_transaction_cannot_stall_a_lease_step(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with _admin(pg_url) as frozen, PostgresLease(pg_url, op_timeout_s=0.2) as lease_store:
        # A holder stopped inside a journal transaction keeps the session row locked.
        frozen.execute("BEGIN")
        frozen.execute("SELECT epoch FROM sessions WHERE session_id = 'default' FOR UPDATE")
        with pytest.raises(StoreError, match="outcome unknown"):
            lease_store.acquire("standby", TTL)
        frozen.execute("ROLLBACK")
        assert lease_store.acquire("standby", TTL) is not None


def test_a_schema_not_yet_migrated_has_no_lease(pg_url: str) -> None:
    PostgresStore(pg_url, migrate_to=2).close()
    with pytest.raises(StoreError, match="migrates to schema 3"):
        PostgresLease(pg_url)
    PostgresStore(pg_url).close()
    PostgresLease(pg_url).close()


def test_the_password_stays_out_of_the_url_attribute() -> None:
    with pytest.raises(StoreError, match="cannot connect") as failed:
        PostgresLease("postgresql://u:secret@127.0.0.1:1/test", connect_timeout_s=1)
    assert "secret" not in str(failed.value)


def test_a_frozen_writer_ended_by_the_server_lets_the_standby_take_over(pg_url: str) -> None:
    # The store's own transactions hold the session row: a holder frozen inside one
    # (SIGSTOP, a long pause) blocks every takeover until the server ends it. The
    # server-side idle_in_transaction_session_timeout (here in the store URL) does.
    url = pg_url + "&options=" + quote("-c idle_in_transaction_session_timeout=300")
    store = PostgresStore(url)
    inside, thaw = threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []
    try:
        with PostgresLease(pg_url) as old_side, PostgresLease(pg_url) as standby:
            old = old_side.acquire("leader-a", 0.2)
            assert old is not None

            def freeze(job: Job) -> None:
                inside.set()
                thaw.wait(10)

            store.writer.before_release = freeze

            def frozen_append() -> None:
                try:
                    store.append(
                        [NewRecord(type="t", version=1, ts_ns=1, payload=b"x")], epoch=old.epoch
                    )
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

            writer = threading.Thread(target=frozen_append)
            writer.start()
            assert inside.wait(10)
            new = _take_over(standby)
            thaw.set()
            writer.join(10)
            assert new.epoch == old.epoch + 1
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreFailedError)  # its transaction was ended
    finally:
        thaw.set()
        store.close()
    with PostgresStore(pg_url) as reopened:
        assert reopened.last_seq() == 0  # the frozen append wrote nothing


def _take_over(standby: PostgresLease) -> Lease:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            lease = standby.acquire("standby", TTL)
        except StoreError:  # the row lock is still held: retry
            lease = None
        if lease is not None:
            return lease
        time.sleep(0.02)
    pytest.fail("the standby never took over")


def test_libpq_options_in_the_url_keep_their_spaces() -> None:
    conninfo, schema, _ = split_store_url(
        "postgresql://u@h:5432/db?schema=s1&options=-c%20statement_timeout%3D5"
    )
    assert schema == "s1"
    assert conninfo == "postgresql://u@h:5432/db?options=-c%20statement_timeout%3D5"
