"""Store URLs and paths: one conversion (storage.url), checked form by form.

``sqlite:///rel`` is relative to the working directory, ``sqlite:////abs`` absolute
(SQLAlchemy's convention), ``~`` is the home directory, spaces and ``%`` escapes work,
and ``store_url_for_dir`` inverts the parser exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeguard.config import Config, StorageSettings
from tradeguard.errors import StoreError
from tradeguard.storage import open_store
from tradeguard.storage.records import NewRecord
from tradeguard.storage.url import (
    sqlite_data_dir,
    sqlite_files,
    sqlite_path_from_url,
    store_url_for_dir,
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data", "data"),  # three slashes: relative (the bug: it was /data)
        ("sqlite:///./data", "data"),
        ("sqlite:///sub/../data", "data"),
        ("sqlite:///my data", "my data"),
        ("sqlite:///my%20data", "my data"),
        ("sqlite:///100%25", "100%"),
    ],
)
def test_three_slashes_are_relative_to_the_working_directory(
    in_tmp: Path, url: str, expected: str
) -> None:
    assert sqlite_path_from_url(url) == in_tmp / expected


def test_four_slashes_are_absolute_and_tilde_is_home(in_tmp: Path) -> None:
    assert sqlite_path_from_url("sqlite:////srv/tg data") == Path("/srv/tg data")
    assert sqlite_path_from_url("sqlite:///~/tg") == in_tmp / "home" / "tg"
    assert sqlite_data_dir("~/tg") == in_tmp / "home" / "tg"
    assert sqlite_data_dir("rel") == in_tmp / "rel"
    assert sqlite_data_dir("postgresql://u@h/db") is None


def test_db_file_and_directory_forms(in_tmp: Path) -> None:
    assert sqlite_files("sqlite:///d") == (in_tmp / "d", in_tmp / "d" / "tradeguard.db")
    assert sqlite_files("sqlite:///d/backup.db") == (in_tmp / "d", in_tmp / "d" / "backup.db")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///.", "sqlite://data"])
def test_urls_that_name_no_path_are_refused(url: str) -> None:
    with pytest.raises(StoreError, match="sqlite URL"):
        sqlite_path_from_url(url)


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"),
        min_size=1,
        max_size=20,
    )
)
def test_url_for_dir_round_trips(name: str) -> None:
    directory = Path("/tmp") / name
    url = store_url_for_dir(directory)
    assert url.startswith("sqlite:////")
    assert sqlite_path_from_url(url) == Path(os.path.abspath(directory))


def test_config_default_and_backup_dir_resolve_against_the_working_directory(
    in_tmp: Path,
) -> None:
    config = Config()
    assert sqlite_data_dir(config.storage.url) == in_tmp / "tradeguard-data"
    assert config.backup_dir == in_tmp / "tradeguard-data" / "backups"
    tilde = Config(storage=StorageSettings(url="sqlite:///x", backup_dir="~/b"))
    assert tilde.backup_dir == in_tmp / "home" / "b"


def _append_one(url: str) -> None:
    with open_store(url) as store:
        store.append([NewRecord("T", 1, 1, b"x")], epoch=0)


def test_relative_url_creates_the_store_in_the_working_directory_not_at_root(
    in_tmp: Path,
) -> None:
    name = f"tg-url-test-{os.getpid()}"
    _append_one(f"sqlite:///{name}")
    assert (in_tmp / name / "tradeguard.db").is_file()
    assert not Path("/" + name).exists()


def test_old_three_slash_absolute_url_is_refused_rather_than_forking_the_journal(
    in_tmp: Path,
) -> None:
    elsewhere = in_tmp / "elsewhere"
    _append_one(str(elsewhere))
    sub = in_tmp / "cwd"
    sub.mkdir()
    os.chdir(sub)
    # Written before the convention was fixed: meant the absolute path.
    with pytest.raises(StoreError, match=r"sqlite:////.*for the absolute path"):
        open_store(f"sqlite://{elsewhere}")
    assert not (sub / str(elsewhere).lstrip("/")).exists()
    with open_store(f"sqlite:///{elsewhere}") as store:  # four slashes
        assert store.last_seq() == 1
