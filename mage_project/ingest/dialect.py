"""The take-home's line dialect: how one line of users.csv or user_interaction.csv becomes the values
of a row, or a rejection with its reason.

The dialect is the take-home's: values quoted with ``'``, a space after each comma, no header,
maybe no final newline, LF, CRLF or old Mac CR line endings, plain or gzip (``.csv.gz``, or gzip
bytes under a ``.csv`` name). Every physical line of a file ends up in exactly one of two
places: a row for COPY (with a note for each value that loads differently from its spelling), or
a rejection with its line number, raw text and reason. Problems with a
whole file (missing, empty, broken DDL) raise :class:`DatasetError` instead.

Only the standard library, at import time and after: the Spark loader ships this module alone to
its executors, which run careful_line for every line that is not in the canonical form, and they
have nothing else installed (tests/project/test_design_rules.py keeps it so). The column types
come from tables.sql through ddl.py, which builds Table and Column with ``column_from_ddl``.
"""
from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

UTF8_BOM = b'\xef\xbb\xbf'


class DatasetError(ValueError):
    """A whole input file cannot be used. The message names the file (and line where one applies)."""


class TakeHomeDialect(csv.Dialect):
    delimiter = ','
    quotechar = "'"
    doublequote = True
    skipinitialspace = True
    lineterminator = '\n'
    quoting = csv.QUOTE_MINIMAL
    strict = True


# ---------------------------------------------------------------------------------------------
# Columns and what they accept
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    base: str  # normalised type name: 'int', 'varchar', 'char', 'text', 'timestamp', ...
    length: Optional[int]  # the limit of varchar(n) / char(n)
    check: Callable[[str], Optional[str]]  # returns the value to COPY, or raises ValueError

    @property
    def sql_type(self) -> str:
        return f'{self.base}({self.length})' if self.length else self.base


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def ddl(self) -> str:
        """The CREATE TABLE body: identifiers from the catalog, types as validated."""
        return ', '.join(f'{c.name} {c.sql_type}' for c in self.columns)


_INT_RANGES = {
    'smallint': 2**15, 'int2': 2**15,
    'int': 2**31, 'integer': 2**31, 'int4': 2**31,
    'bigint': 2**63, 'int8': 2**63,
}
_INT_PATTERN = re.compile(r'[+-]?[0-9]+')
# ISO 8601 as Postgres reads it into timestamp: a space or T, optional seconds, up to 6 fractional
# digits (Postgres keeps microseconds), an optional UTC offset (Z, +02, +0200, +02:00).
_TIMESTAMP_PATTERN = re.compile(
    r'[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?'
    r'(?P<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?'
)


class Adjusted(str):
    """A value that loads differently from how the file spells it, and why (kept in
    raw.adjusted_values, so nothing changes silently)."""
    note: str


def _adjusted(value: str, note: str) -> Adjusted:
    adjusted = Adjusted(value)
    adjusted.note = note
    return adjusted


def _int_check(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if not _INT_PATTERN.fullmatch(value):
            raise ValueError(f'is not an integer: {value!r}' if value else 'is empty')
        number = int(value)
        if not -limit <= number < limit:
            raise ValueError(f'is out of range: {value}')
        return str(number)
    return check


def _varchar_check(length: Optional[int]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if length is not None and len(value) > length:
            # Postgres cuts excess characters that are all spaces and refuses anything else.
            if value[length:].strip(' '):
                raise ValueError(f'is longer than {length} characters: {value!r}')
            return _adjusted(value[:length], f'trailing spaces beyond {length} characters removed, '
                                             'as Postgres does')
        return value
    return check


def _timestamp_check(value: str) -> str:
    value = value.strip()
    match = _TIMESTAMP_PATTERN.fullmatch(value)
    if not match:
        raise ValueError(f'is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601): {value!r}' if value else 'is empty')
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f'is not a valid date and time: {value!r}') from None
    if match['offset']:
        # timestamp without time zone would drop the offset and keep the local time: convert.
        utc = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=' ')
        return _adjusted(utc, f'UTC offset {match["offset"]} converted to UTC')
    return value


_TYPE_PATTERN = re.compile(
    r'(?P<base>smallint|int2|integer|int4|int8|bigint|int|text|timestamp|'
    r'varchar|character varying|char|character)\s*(?:\(\s*(?P<length>[0-9]+)\s*\))?',
    re.IGNORECASE,
)


def column_from_ddl(name: str, type_text: str, where: str) -> Column:
    """A column of tables.sql: its name, its type as written there, and where (for the message)."""
    match = _TYPE_PATTERN.fullmatch(type_text.strip())
    if not match:
        raise DatasetError(f'{where}: column {name} has an unsupported type {type_text.strip()!r}')
    base = match['base'].lower()
    length = int(match['length']) if match['length'] else None
    if base in _INT_RANGES:
        return Column(name, base, None, _int_check(_INT_RANGES[base]))
    if base == 'timestamp':
        return Column(name, 'timestamp', None, _timestamp_check)
    if base == 'text':
        return Column(name, 'text', None, _varchar_check(None))
    if base in ('char', 'character'):
        # char(n) pads on insert; only its length limit matters for loading.
        return Column(name, 'char', length or 1, _varchar_check(length or 1))
    return Column(name, 'varchar', length, _varchar_check(length))


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rejection:
    line_number: int
    raw_text: str
    reason: str


BLOCK_BYTES = 1 << 20
MAX_LINE_BYTES = 16 << 20  # a longer "line" means the file is not line-oriented text at all


class _BadLine(str):
    """A line that is not valid UTF-8: the text with backslash escapes for the bad bytes, and why."""
    problem: str


def decode_line(raw: bytes) -> str:
    """One line's text (without its line break); a line that is not valid UTF-8 becomes a
    _BadLine, its bad bytes shown as backslash escapes."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as error:
        bad = _BadLine(raw.decode('utf-8', errors='backslashreplace'))
        bad.problem = (f'not valid UTF-8: byte 0x{raw[error.start:error.start + 1].hex()} '
                       f'at byte {error.start + 1}')
        return bad


def _decode_lines(block: bytes) -> list[str]:
    """The lines of ``block``, which ends with a newline (or is the file's last line)."""
    try:
        text = block.decode('utf-8').replace('\r\n', '\n')
        return (text[:-1] if text.endswith('\n') else text).split('\n')
    except UnicodeDecodeError:
        return [decode_line(raw[:-1] if raw.endswith(b'\r') else raw)
                for raw in (block[:-1] if block.endswith(b'\n') else block).split(b'\n')]


GZIP_MAGIC = b'\x1f\x8b'
SNIFF_BYTES = 1 << 16


class _GzipReader:
    """Reads a gzip file's decompressed bytes; a broken stream is a DatasetError naming the file."""

    def __init__(self, path: Path):
        self._path = path
        self._handle = gzip.open(path, 'rb')

    def read(self, size: int = -1) -> bytes:
        try:
            return self._handle.read(size)
        except (OSError, EOFError, zlib.error) as error:
            raise DatasetError(f'{self._path}: not a readable gzip file ({error})') from None

    def close(self) -> None:
        self._handle.close()


@contextmanager
def open_bytes(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed when they are gzip (by their first bytes, whatever the name)."""
    with path.open('rb') as handle:
        gzipped = handle.read(2) == GZIP_MAGIC
    handle = _GzipReader(path) if gzipped else path.open('rb')
    try:
        yield handle
    finally:
        handle.close()


def is_cr_only(head: bytes) -> bool:
    """Whether a file whose first bytes (after any BOM, up to a block and a BOM's length) are
    ``head`` has old Mac CR-only line endings: CRs and no LF at all."""
    return b'\n' not in head and b'\r' in head[:-1]


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, list[str]]]:
    """(number of the first line, lines) for consecutive blocks of about ``block_bytes``, so the
    caller loops over decoded text in bulk instead of reading line by line. Lines end with LF or
    CRLF; a file whose first block has CRs and no LF at all has old Mac CR-only endings."""
    number = 1
    cr_only = None
    with open_bytes(path) as handle:
        rest = handle.read(len(UTF8_BOM))
        rest = b'' if rest == UTF8_BOM else rest
        while True:
            # The first read is large enough to tell the line endings whatever the block size.
            chunk = handle.read(block_bytes if cr_only is not None else max(block_bytes, SNIFF_BYTES))
            if cr_only is None:
                head = rest + chunk
                cr_only = is_cr_only(head)
            if cr_only:
                chunk = chunk.replace(b'\r', b'\n')
                rest = rest.replace(b'\r', b'\n')
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b'\n') + 1
            rest = data[cut:]
            if len(rest) > MAX_LINE_BYTES:
                line = number + data.count(b'\n', 0, cut)
                raise DatasetError(f'{path}, line {line}: over {MAX_LINE_BYTES} bytes without a line '
                                   'break; not a CSV file of this dataset')
            if cut:
                lines = _decode_lines(data[:cut])
                yield number, lines
                number += len(lines)
    if rest:
        yield number, _decode_lines(rest[:-1] if rest.endswith(b"\r") else rest)


def _split_one(text: str) -> list[str]:
    """The fields of one line in the take-home dialect; csv.Error where it is not valid."""
    return next(csv.reader((text,), TakeHomeDialect), [])


def copy_escape(value: str) -> str:
    """A value in COPY text format: backslash, tab and line breaks escaped."""
    if '\\' in value or '\t' in value or '\n' in value or '\r' in value:
        value = value.replace('\\', '\\\\').replace('\t', '\\t').replace('\n', '\\n').replace('\r', '\\r')
    return value


def checked_values(table: Table, fields: list[str], notes: Optional[list] = None) -> list[str]:
    """The values to load for a parsed row, or ValueError with the reason it cannot load. Values
    that load differently from how they are written add (column, written, loaded, why) to
    ``notes``."""
    if len(fields) != len(table.columns):
        raise ValueError(f'has {len(fields)} field{"" if len(fields) == 1 else "s"}; expected {len(table.columns)} '
                         f'({", ".join(table.column_names)})')
    values = []
    for column, value in zip(table.columns, fields):
        if '\x00' in value:
            raise ValueError(f'{column.name} contains a NUL character')
        try:
            checked = column.check(value)
        except ValueError as error:
            raise ValueError(f'{column.name} {error}') from None
        if notes is not None and isinstance(checked, Adjusted):
            notes.append((column.name, value, str(checked), checked.note))
        values.append(str(checked))
    return values


def _looks_like_header(table: Table, fields: Optional[list[str]]) -> bool:
    return bool(fields) and [f.strip().strip('"').lower() for f in fields] == list(table.column_names)


def parse_line(table: Table, number: int, text: str, notes: Optional[list] = None) -> str:
    """The careful path for one line: a COPY line, or ValueError with the reason it is rejected."""
    return '\t'.join(copy_escape(value) for value in parse_values(table, number, text, notes)) + '\n'


def parse_values(table: Table, number: int, text: str, notes: Optional[list] = None) -> list[str]:
    """The careful path for one line: the values to load, or ValueError with the reason it is
    rejected."""
    problem = getattr(text, 'problem', None)
    if problem:
        raise ValueError(problem)
    if not text.strip():
        raise ValueError('blank line')
    try:
        fields = _split_one(text)
    except csv.Error as error:
        raise ValueError(f'not valid CSV in the take-home dialect: {error}') from None
    try:
        return checked_values(table, fields, notes)
    except ValueError:
        if number == 1 and _looks_like_header(table, fields):
            raise ValueError('header line (column names), not data') from None
        raise


# The fast path: a line in exactly the take-home's canonical form, whose values need no escaping
# and cannot break a column's limits, matches one regular expression and becomes a COPY line
# without any Python per field. Everything else takes parse_line.
_DATE_TIME = (
    r'[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)'
    r'|(?:0[13578]|1[02])-31) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]'
)
_SAFE_DIGITS = {'smallint': 4, 'int2': 4, 'int': 9, 'integer': 9, 'int4': 9, 'bigint': 18, 'int8': 18}


def fast_pattern(table: Table) -> 're.Pattern[str]':
    parts = []
    for column in table.columns:
        if column.base in _SAFE_DIGITS:
            parts.append(f'(-?[0-9]{{1,{_SAFE_DIGITS[column.base]}}})')
        elif column.base == 'timestamp':
            parts.append(f"'({_DATE_TIME})'")
        else:
            parts.append(f"'([^'\\\\\\t\\r\\n\\x00]{{0,{column.length or ''}}})'")
    return re.compile(', '.join(parts))


@dataclass(frozen=True)
class Adjustment:
    line_number: int
    column: str
    raw_value: str
    loaded_value: str
    reason: str


@dataclass
class LoadCounts:
    lines_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    values_adjusted: int = 0
    reasons: Counter = field(default_factory=Counter)  # rejection reasons by kind

    @property
    def balanced(self) -> bool:
        return self.lines_read == self.rows_loaded + self.rows_rejected

    def top_reasons(self, most: int = 3) -> str:
        return '; '.join(f'{reason} ({count})' for reason, count in self.reasons.most_common(most))


def reason_kind(reason: str) -> str:
    """A rejection reason without the value it quotes, to count reasons by kind."""
    return re.split(r': |; ', reason, maxsplit=1)[0]


def iter_copy_lines(path: Path, table: Table, counts: LoadCounts,
                    on_reject: Callable[[Rejection], None],
                    on_adjust: Optional[Callable[[Adjustment], None]] = None) -> Iterator[str]:
    """Stream COPY text for every loadable line of ``path``, a block of lines at a time; every
    other line goes to ``on_reject``, every value loaded differently from its spelling to
    ``on_adjust``. ``counts`` is updated as the stream is consumed."""
    fullmatch = fast_pattern(table).fullmatch
    for first, lines in iter_line_blocks(path):
        out = []
        for offset, text in enumerate(lines):
            match = fullmatch(text)
            if match is not None:
                out.append('\t'.join(match.groups()) + '\n')
                continue
            number = first + offset
            notes: list = []
            try:
                out.append(parse_line(table, number, text, notes))
            except ValueError as error:
                counts.rows_rejected += 1
                counts.reasons[reason_kind(str(error))] += 1
                on_reject(Rejection(number, str(text), str(error)))
                continue
            for column, raw_value, loaded, reason in notes:
                counts.values_adjusted += 1
                if on_adjust is not None:
                    on_adjust(Adjustment(number, column, raw_value, loaded, reason))
        counts.lines_read += len(lines)
        counts.rows_loaded += len(out)
        if out:
            yield ''.join(out)


def careful_line(table: Table, number: int, raw: bytes, cr_only: bool) -> tuple:
    """The careful path for one line as the Spark loader hands it over: its raw bytes as split at
    the file's line separator (LF, or CR for CR-only files). Returns (values to load, or None;
    rejection reason, or None; the reason's kind; the line's text; adjustments as (column, written,
    loaded, why)) exactly as iter_copy_lines would decide for that line."""
    if not cr_only and raw.endswith(b'\r'):
        raw = raw[:-1]
    if number == 1 and raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    text = decode_line(raw)
    notes: list = []
    try:
        values = parse_values(table, number, text, notes)
    except ValueError as error:
        return None, str(error), reason_kind(str(error)), str(text), []
    # Spark casts timestamps from one spelling; the moment is the one Postgres would read.
    values = [datetime.fromisoformat(value).isoformat(sep=' ') if column.base == 'timestamp' else value
              for column, value in zip(table.columns, values)]
    return values, None, None, str(text), notes
