"""The chain checker tells a damaged tail from damage in the middle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tradeguard.recovery.scan import ChainChecker
from tradeguard.storage.records import GENESIS_CRC, StoredRecord, chain_crc


def make_chain(n: int) -> list[StoredRecord]:
    records: list[StoredRecord] = []
    prev = GENESIS_CRC
    for seq in range(1, n + 1):
        payload = f"payload-{seq}".encode()
        crc = chain_crc(prev, seq=seq, type="t", version=1, ts_ns=seq, epoch=1, payload=payload)
        records.append(StoredRecord(seq, "t", 1, seq, 1, payload, crc))
        prev = crc
    return records


def scan(records: list[StoredRecord]) -> tuple[list[int], ChainChecker]:
    checker = ChainChecker(after_seq=0, prev_crc=GENESIS_CRC)
    valid = [r.seq for r in checker.check_all(records)]
    return valid, checker


def flip(record: StoredRecord, *, payload: bool = True) -> StoredRecord:
    if payload:
        data = bytearray(record.payload)
        data[0] ^= 0x01
        return StoredRecord(
            record.seq,
            record.type,
            record.version,
            record.ts_ns,
            record.epoch,
            bytes(data),
            record.crc,
        )
    return StoredRecord(
        record.seq,
        record.type,
        record.version,
        record.ts_ns,
        record.epoch,
        record.payload,
        record.crc ^ 0x10,
    )


def test_intact_chain() -> None:
    valid, checker = scan(make_chain(10))
    assert valid == list(range(1, 11))
    assert checker.summary().ok


@given(st.integers(1, 30), st.data())
def test_flipped_payload_in_the_middle_is_located(n: int, data: st.DataObject) -> None:
    records = make_chain(n)
    bad = data.draw(st.integers(1, n))
    records[bad - 1] = flip(records[bad - 1])
    valid, checker = scan(records)
    summary = checker.summary()
    assert valid == list(range(1, bad))
    assert summary.corrupt == [bad]
    assert summary.first_bad == bad
    assert summary.tail_only == (bad == n)


def test_flipped_crc_breaks_two_records_then_resyncs() -> None:
    records = make_chain(6)
    records[2] = flip(records[2], payload=False)
    _, checker = scan(records)
    summary = checker.summary()
    assert summary.corrupt == [3, 4]
    assert not summary.tail_only


def test_missing_and_reordered_records() -> None:
    records = make_chain(8)
    del records[3]  # seq 4 gone
    _, checker = scan(records)
    summary = checker.summary()
    assert summary.missing == [4]
    assert summary.first_bad == 4
    assert not summary.tail_only
    records = make_chain(8)
    records[5], records[6] = records[6], records[5]
    _, checker = scan(records)
    assert checker.summary().first_bad == 6


def test_torn_tail_of_several_records() -> None:
    records = make_chain(8)
    records[6] = flip(records[6])
    records[7] = flip(records[7], payload=False)
    _, checker = scan(records)
    summary = checker.summary()
    # record 8's crc was damaged too, so nothing valid follows the damage: a tail.
    assert summary.first_bad == 7
    assert summary.tail_only


def _with(record: StoredRecord, **changes: object) -> StoredRecord:
    fields = {f: getattr(record, f) for f in StoredRecord.__struct_fields__}
    fields.update(changes)
    return StoredRecord(**fields)  # type: ignore[arg-type]


@given(
    st.sampled_from(
        [
            ("ts_ns", "abc"),
            ("ts_ns", 1.5),
            ("epoch", 1.0),
            ("version", "1"),
            ("payload", "text"),
            ("payload", memoryview(b"x")),
            ("type", b"t"),
            ("crc", "q"),
            ("crc", 1.0),
            ("seq", 2.0),
        ]
    ),
    st.integers(1, 12),
)
def test_a_column_of_the_wrong_type_is_damage_not_a_crash(
    change: tuple[str, object], bad: int
) -> None:
    name, value = change
    records = make_chain(12)
    records[bad - 1] = _with(records[bad - 1], **{name: value})
    fast, checker = scan(records)  # the replay path (check_all)
    slow = ChainChecker(after_seq=0, prev_crc=GENESIS_CRC)
    for record in records:  # verify's path (check, one by one)
        slow.check(record)
    # An unreadable crc or seq also breaks the next record, which chains from it.
    last_broken = bad + 1 if name in {"crc", "seq"} else bad
    for summary in (checker.summary(), slow.summary()):
        assert summary.first_bad == bad
        assert summary.tail_only == (last_broken >= 12)
        assert summary.malformed
        assert name in summary.malformed[0][1]
    assert fast == list(range(1, bad))


def test_a_record_whose_seq_is_unreadable_is_placed_by_the_gap_or_the_tail() -> None:
    records = make_chain(8)
    # SQLite sorts a text seq after every integer: the damaged row comes last.
    middle = [*records[:3], *records[4:], _with(records[3], seq="4?")]
    _, checker = scan(middle)
    summary = checker.summary()
    assert summary.first_bad == 4
    assert summary.missing == [4]
    assert not summary.tail_only
    tail = [*records[:7], _with(records[7], seq="8?")]
    _, checker = scan(tail)
    summary = checker.summary()
    assert summary.first_bad == 8
    assert summary.tail_only
