"""The input files of a run: where each raw table's file is in DATASET_DIR, and the checks of the
whole files before any database work.

Both pipelines find their files here. The Postgres pipeline reads a local folder (LocalFiles); the
Spark pipeline reads any location Spark reads, local or an object store, through Hadoop's file
systems (spark.load.SparkFiles), which answer the same three questions: is it a folder, is it a
file, what are its first bytes. Locations are strings, joined with '/'.
"""
from __future__ import annotations

import zlib
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


class LocalFiles:
    """Files on this machine's file system."""

    def is_dir(self, location: str) -> bool:
        return Path(location).is_dir()

    def is_file(self, location: str) -> bool:
        return Path(location).is_file()

    def head(self, location: str, size: int) -> bytes:
        with open(location, 'rb') as handle:
            return handle.read(size)


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


def check_input_files(files: Files, folder: str) -> dict[str, Table]:
    """File-level checks before any database work: the folder, the DDL and both CSV files exist,
    and no CSV file is empty. Returns the parsed DDL."""
    if not files.is_dir(folder):
        raise not_a_folder(folder, files.is_file(folder))
    tables = read_ddl(files, folder)
    for table in RAW_TABLES:
        location = input_file(files, folder, table)
        head = text_head(files, location, 64)
        if len(head) < 64 and not head.replace(UTF8_BOM, b'').strip():
            raise DatasetError(f'{location}: file is empty; refusing to replace the tables with nothing')
    return tables
