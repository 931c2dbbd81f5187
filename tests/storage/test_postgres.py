"""PostgreSQL specifics: sessions and schemas side by side, lost connections, not-found."""

from __future__ import annotations

import psycopg
import pytest

from tradeguard.errors import StoreError, StoreFailedError, StoreNotFoundError
from tradeguard.storage import NewRecord, PostgresStore, open_store
from tradeguard.storage.postgres import redact_url


def rec(i: int) -> NewRecord:
    return NewRecord(type="test.Event", version=1, ts_ns=i, payload=b"p%d" % i)


def test_sessions_share_a_schema_independently(pg_url: str) -> None:
    with PostgresStore(pg_url, session_id="a") as a, PostgresStore(pg_url, session_id="b") as b:
        a.append([rec(1), rec(2)], epoch=0)
        b.append([rec(3)], epoch=0)
        assert [r.payload for r in a.read()] == [b"p1", b"p2"]
        assert [r.payload for r in b.read()] == [b"p3"]
        assert b.advance_epoch() == 1
        assert a.current_epoch() == 0


def test_lost_connection_poisons_the_store(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        store.append([rec(1)], epoch=0)
        pid = store.writer._tx.conn.info.backend_pid  # type: ignore[attr-defined]
        server = pg_url.split("?", maxsplit=1)[0]
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreFailedError, match="outcome unknown"):
            store.append([rec(2)], epoch=0)
        with pytest.raises(StoreFailedError):
            store.append([rec(3)], epoch=0)
        assert store.last_seq() == 1  # reads use their own connection
    finally:
        store.close()
    with PostgresStore(pg_url) as again:
        assert again.append([rec(4)], epoch=0).first_seq == 2


def test_missing_schema_or_session_without_create(pg_url: str) -> None:
    with pytest.raises(StoreNotFoundError):
        open_store(pg_url, create=False)
    with pytest.raises(StoreNotFoundError):
        open_store(pg_url, readonly=True)
    PostgresStore(pg_url, session_id="exists").close()
    with pytest.raises(StoreNotFoundError):
        open_store(pg_url, session_id="other", create=False)


def test_bad_schema_name_and_unreachable_server() -> None:
    with pytest.raises(StoreError, match="schema name"):
        PostgresStore("postgresql://postgres@127.0.0.1:5432/test?schema=x;drop")
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore("postgresql://postgres:secret@127.0.0.1:1/test", connect_timeout_s=2)


def test_password_never_in_url_attribute() -> None:
    assert redact_url("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_session_id_with_quotes_is_quoted_by_the_driver(pg_url: str) -> None:
    # The write transaction's BEGIN + locking SELECT is one parameterless statement.
    odd = "o'brien\\'; DROP TABLE journal; --"
    with PostgresStore(pg_url, session_id=odd) as store:
        assert store.append([rec(1), rec(2)], epoch=0).last_seq == 2
        assert store.advance_epoch() == 1
        assert store.append([rec(3)], epoch=1).first_seq == 3
    with PostgresStore(pg_url, session_id="plain") as other:
        assert other.append([rec(9)], epoch=0).first_seq == 1
    with PostgresStore(pg_url, session_id=odd) as again:
        assert [r.payload for r in again.read()] == [b"p1", b"p2", b"p3"]
