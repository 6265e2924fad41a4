"""The input files of a run: where each raw table's files are in DATASET_DIR, and the checks of
the whole files before any database work.

The layout: tables.sql; users.csv (or .csv.gz), one full snapshot of the users; and the events,
either one file, user_interaction.csv (or .csv.gz), or a folder user_interaction/ of any number of
*.csv and *.csv.gz files, each one unit of loading. A file of the folder whose name carries a date
(2019-05-05.csv, events_2019-05-05.csv.gz) belongs to that day. Anything else in the folder
(.DS_Store, a README, a *.tmp being written, a subfolder) is ignored and named, not loaded.

Both pipelines find their files here. The Postgres pipeline reads a local folder (LocalFiles); the
Spark pipeline reads any location Spark reads, local or an object store, through Hadoop's file
systems (spark.load.SparkFiles), which answer the same four questions: is it a folder, is it a
file, what are its first bytes, what does a folder hold. Locations are strings, joined with '/'.
"""
from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from mage_project.catalog import DDL_FILE, RAW_TABLES
from mage_project.ingest.ddl import parse_ddl_text
from mage_project.ingest.dialect import GZIP_MAGIC, MAX_LINE_BYTES, UTF8_BOM, DatasetError, Table


class Files(Protocol):
    def is_dir(self, location: str) -> bool: ...
    def is_file(self, location: str) -> bool: ...
    def head(self, location: str, size: int) -> bytes:
        """The first ``size`` bytes of the file as stored (not decompressed)."""
    def entries(self, location: str) -> list[tuple[str, bool]]:
        """The names in a folder, each with whether it is a folder itself."""


class LocalFiles:
    """Files on this machine's file system."""

    def is_dir(self, location: str) -> bool:
        return Path(location).is_dir()

    def is_file(self, location: str) -> bool:
        return Path(location).is_file()

    def head(self, location: str, size: int) -> bytes:
        with open(location, 'rb') as handle:
            return handle.read(size)

    def entries(self, location: str) -> list[tuple[str, bool]]:
        with os.scandir(location) as found:
            return [(entry.name, entry.is_dir()) for entry in found]


def join(folder: str, name: str) -> str:
    return f'{str(folder).rstrip("/")}/{name}'


def text_head(files: Files, location: str, size: int) -> bytes:
    """Up to ``size`` bytes of the file's content, decompressed when it is gzip (by its first bytes,
    as dialect.open_bytes decides). A gzip file is read far enough that its first ``size`` bytes of
    content come out, unless it is shorter."""
    raw = files.head(location, max(size, 1 << 16))
    if not raw.startswith(GZIP_MAGIC):
        return raw[:size]
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, size)
    except zlib.error as error:
        raise DatasetError(f'{location}: not a readable gzip file ({error})') from None


def input_file(files: Files, folder: str, table: str) -> str:
    """The file of ``table``: <table>.csv, or <table>.csv.gz; both at once is ambiguous."""
    plain, packed = join(folder, f'{table}.csv'), join(folder, f'{table}.csv.gz')
    has_plain, has_packed = files.is_file(plain), files.is_file(packed)
    if has_plain and has_packed:
        raise DatasetError(f'{plain} and {table}.csv.gz both exist: keep one, so it is clear which is loaded')
    if has_packed:
        return packed
    if not has_plain:
        raise DatasetError(f'{plain}: file not found (nor {table}.csv.gz)')
    return plain


# The events' folder, and the names of the files it loads.
EVENTS_TABLE = 'user_interaction'
CSV_SUFFIXES = ('.csv', '.csv.gz')
_DATE = re.compile(r'(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])')


@dataclass(frozen=True)
class InputFile:
    """One file of a raw table: its location, its path relative to DATASET_DIR (what the manifest
    and the evidence name it by) and, for an event file whose name carries one, its date."""
    table: str
    location: str
    relative: str
    file_date: date | None = None


@dataclass(frozen=True)
class Inputs:
    """What a run finds in DATASET_DIR: the users' file, the event files in name order, and the
    names in the events' folder that are not loaded (relative paths)."""
    users: InputFile
    events: tuple[InputFile, ...]
    ignored: tuple[str, ...] = ()


def file_date(name: str) -> date | None:
    """The date a file's name carries (the last one, if several), or None."""
    for match in reversed(_DATE.findall(name)):
        try:
            return date(*map(int, match))
        except ValueError:
            continue
    return None


def _stem(name: str) -> str | None:
    for suffix in sorted(CSV_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return None


def event_files(files: Files, folder: str) -> tuple[tuple[InputFile, ...], tuple[str, ...]]:
    """The event files of ``folder`` (one user_interaction.csv(.gz), or the files of the folder
    user_interaction/) and the names in that folder that are not loaded."""
    subfolder = join(folder, EVENTS_TABLE)
    if not files.is_dir(subfolder):
        location = input_file(files, folder, EVENTS_TABLE)
        return (InputFile(EVENTS_TABLE, location, location.rsplit('/', 1)[-1]),), ()
    for suffix in CSV_SUFFIXES:
        if files.is_file(join(folder, EVENTS_TABLE + suffix)):
            raise DatasetError(f'{join(folder, EVENTS_TABLE + suffix)} and the folder {subfolder}/ both exist: '
                               'keep one, so it is clear which events are loaded')
    found, ignored, stems = [], [], {}
    for name, is_dir in sorted(files.entries(subfolder)):
        stem = None if is_dir or name.startswith('.') else _stem(name)
        relative = f'{EVENTS_TABLE}/{name}'
        if stem is None:
            ignored.append(relative + ('/' if is_dir else ''))
            continue
        if stem in stems:
            raise DatasetError(f'{join(subfolder, stems[stem])} and {name} both exist: keep one, so it is clear '
                               'which is loaded')
        stems[stem] = name
        found.append(InputFile(EVENTS_TABLE, join(subfolder, name), relative, file_date(name)))
    if not found:
        raise DatasetError(f'{subfolder}/: no event file (*.csv or *.csv.gz) in the folder'
                           + (f'; not loaded: {", ".join(ignored)}' if ignored else ''))
    return tuple(found), tuple(ignored)


def find_inputs(files: Files, folder: str) -> Inputs:
    """The input files of ``folder``: users.csv(.gz) and the event files."""
    users = input_file(files, folder, 'users')
    events, ignored = event_files(files, folder)
    return Inputs(InputFile('users', users, users.rsplit('/', 1)[-1]), events, ignored)


def read_ddl(files: Files, folder: str) -> dict[str, Table]:
    """tables.sql of ``folder``, parsed (ddl.parse_ddl_text)."""
    location = join(folder, DDL_FILE)
    if not files.is_file(location):
        raise DatasetError(f'{location}: file not found (the DDL of the raw tables)')
    return parse_ddl_text(location, files.head(location, MAX_LINE_BYTES).decode('utf-8-sig'))


def not_a_folder(folder, exists: bool) -> DatasetError:
    """The error for a DATASET_DIR that is missing, or a file."""
    what = 'a file, not a folder' if exists else 'dataset folder not found'
    return DatasetError(f'{folder}: {what} (set DATASET_DIR to the folder of tables.sql, users.csv and '
                        'user_interaction.csv)')


def check_not_empty(files: Files, location: str) -> None:
    head = text_head(files, location, 64)
    if len(head) < 64 and not head.replace(UTF8_BOM, b'').strip():
        raise DatasetError(f'{location}: file is empty; refusing to replace the tables with nothing')


def check_input_files(files: Files, folder: str) -> tuple[dict[str, Table], Inputs]:
    """File-level checks before any database work: the folder, the DDL and the CSV files exist,
    and no CSV file is empty. Returns the parsed DDL and the input files."""
    if not files.is_dir(folder):
        raise not_a_folder(folder, files.is_file(folder))
    tables = read_ddl(files, folder)
    inputs = find_inputs(files, folder)
    assert set(RAW_TABLES) == {'users', EVENTS_TABLE}
    for found in (inputs.users, *inputs.events):
        check_not_empty(files, found.location)
    return tables, inputs
