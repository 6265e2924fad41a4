"""Reading the take-home's files: the DDL in tables.sql and the two CSV files.

The CSV dialect is the take-home's: values quoted with ``'``, a space after each comma, no header,
maybe no final newline, maybe CRLF. Every physical line of a file ends up in exactly one of two
places: a row for COPY, or a rejection with its line number, raw text and reason. Problems with a
whole file (missing, empty, broken DDL) raise :class:`DatasetError` instead.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Optional

# The contract with tables.sql: which tables and columns the pipeline expects, in file order.
# Identifiers come from here, never from the file; the file only contributes the column types.
EXPECTED_TABLES: dict[str, tuple[str, ...]] = {
    'users': ('user_id', 'age', 'country'),
    'user_interaction': ('event_id', 'user_id', 'event_type', 'event_time'),
}
CSV_FILES = {table: f'{table}.csv' for table in EXPECTED_TABLES}
DDL_FILE = 'tables.sql'
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
# DDL
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
        """The CREATE TABLE body: identifiers from EXPECTED_TABLES, types as validated."""
        return ', '.join(f'{c.name} {c.sql_type}' for c in self.columns)


_INT_RANGES = {
    'smallint': 2**15, 'int2': 2**15,
    'int': 2**31, 'integer': 2**31, 'int4': 2**31,
    'bigint': 2**63, 'int8': 2**63,
}
_INT_PATTERN = re.compile(r'[+-]?[0-9]+')
_TIMESTAMP_PATTERN = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?')


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
            raise ValueError(f'is longer than {length} characters: {value!r}')
        return value
    return check


def _timestamp_check(value: str) -> str:
    value = value.strip()
    if not _TIMESTAMP_PATTERN.fullmatch(value):
        raise ValueError(f'is not a timestamp (YYYY-MM-DD HH:MM:SS): {value!r}' if value else 'is empty')
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f'is not a valid date and time: {value!r}') from None
    return value


_TYPE_PATTERN = re.compile(
    r'(?P<base>smallint|int2|integer|int4|int8|bigint|int|text|timestamp|'
    r'varchar|character varying|char|character)\s*(?:\(\s*(?P<length>[0-9]+)\s*\))?',
    re.IGNORECASE,
)


def _column(name: str, type_text: str, where: str) -> Column:
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


_CREATE_PATTERN = re.compile(
    r'create\s+table\s+(?:if\s+not\s+exists\s+)?(?:"?\w+"?\.)?"?(?P<table>\w+)"?\s*\((?P<body>.*?)\)\s*;?\s*$',
    re.IGNORECASE | re.DOTALL,
)


def parse_ddl(path: Path) -> dict[str, Table]:
    """Parse tables.sql into the expected tables, or raise DatasetError naming file and line.

    Only ``CREATE TABLE`` statements for the tables in EXPECTED_TABLES, with exactly the expected
    column names in order, are accepted; anything else in the file is an error, so no SQL from
    the file is ever executed.
    """
    if not path.is_file():
        raise DatasetError(f'{path}: file not found (the DDL of the raw tables)')
    text = path.read_text(encoding='utf-8-sig')
    tables: dict[str, Table] = {}
    offset = 0
    for statement in text.split(';'):
        line = text.count('\n', 0, offset + len(statement) - len(statement.lstrip())) + 1
        offset += len(statement) + 1
        body = re.sub(r'--[^\n]*', '', statement).strip()
        if not body:
            continue
        where = f'{path}, line {line}'
        match = _CREATE_PATTERN.fullmatch(body)
        if not match:
            raise DatasetError(f'{where}: expected a CREATE TABLE statement, found {body[:60]!r}')
        name = match['table'].lower()
        if name not in EXPECTED_TABLES:
            raise DatasetError(f'{where}: unexpected table {name!r} (expected {", ".join(EXPECTED_TABLES)})')
        if name in tables:
            raise DatasetError(f'{where}: table {name} is defined twice')
        columns = []
        for part in match['body'].split(','):
            pieces = part.strip().split(None, 1)
            if len(pieces) != 2:
                raise DatasetError(f'{where}: cannot read the column definition {part.strip()!r}')
            columns.append(_column(pieces[0].strip('"').lower(), pieces[1], where))
        names = tuple(column.name for column in columns)
        if names != EXPECTED_TABLES[name]:
            raise DatasetError(
                f'{where}: table {name} has columns {", ".join(names)}; '
                f'expected {", ".join(EXPECTED_TABLES[name])}'
            )
        tables[name] = Table(name, tuple(columns))
    missing = [name for name in EXPECTED_TABLES if name not in tables]
    if missing:
        raise DatasetError(f'{path}: no CREATE TABLE for {", ".join(missing)}')
    return tables


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


def _decode_lines(block: bytes) -> list[str]:
    """The lines of ``block``, which ends with a newline (or is the file's last line)."""
    try:
        text = block.decode('utf-8').replace('\r\n', '\n')
        return (text[:-1] if text.endswith('\n') else text).split('\n')
    except UnicodeDecodeError:
        lines: list[str] = []
        for raw in (block[:-1] if block.endswith(b'\n') else block).split(b'\n'):
            raw = raw[:-1] if raw.endswith(b'\r') else raw
            try:
                lines.append(raw.decode('utf-8'))
            except UnicodeDecodeError as error:
                bad = _BadLine(raw.decode('utf-8', errors='backslashreplace'))
                bad.problem = (f'not valid UTF-8: byte 0x{raw[error.start:error.start + 1].hex()} '
                               f'at byte {error.start + 1}')
                lines.append(bad)
        return lines


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, list[str]]]:
    """(number of the first line, lines) for consecutive blocks of about ``block_bytes``, so the
    caller loops over decoded text in bulk instead of reading line by line."""
    number = 1
    with path.open('rb') as handle:
        rest = handle.read(len(UTF8_BOM))
        rest = b'' if rest == UTF8_BOM else rest
        while True:
            chunk = handle.read(block_bytes)
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


def validate_fields(table: Table, fields: list[str]) -> str:
    """One COPY text line for a parsed row, or ValueError with the reason it cannot load."""
    if len(fields) != len(table.columns):
        raise ValueError(f'has {len(fields)} fields; expected {len(table.columns)} '
                         f'({", ".join(table.column_names)})')
    values = []
    for column, value in zip(table.columns, fields):
        if '\x00' in value:
            raise ValueError(f'{column.name} contains a NUL character')
        try:
            values.append(copy_escape(column.check(value)))
        except ValueError as error:
            raise ValueError(f'{column.name} {error}') from None
    return '\t'.join(values) + '\n'


def _looks_like_header(table: Table, fields: Optional[list[str]]) -> bool:
    return bool(fields) and [f.strip().strip('"').lower() for f in fields] == list(table.column_names)


def parse_line(table: Table, number: int, text: str) -> str:
    """The careful path for one line: a COPY line, or ValueError with the reason it is rejected."""
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
        return validate_fields(table, fields)
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


@dataclass
class LoadCounts:
    lines_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0

    @property
    def balanced(self) -> bool:
        return self.lines_read == self.rows_loaded + self.rows_rejected


def iter_copy_lines(path: Path, table: Table, counts: LoadCounts,
                    on_reject: Callable[[Rejection], None]) -> Iterator[str]:
    """Stream COPY text for every loadable line of ``path``, a block of lines at a time; every
    other line goes to ``on_reject``. ``counts`` is updated as the stream is consumed."""
    fullmatch = fast_pattern(table).fullmatch
    for first, lines in iter_line_blocks(path):
        out = []
        for offset, text in enumerate(lines):
            match = fullmatch(text)
            if match is not None:
                out.append('\t'.join(match.groups()) + '\n')
                continue
            number = first + offset
            try:
                out.append(parse_line(table, number, text))
            except ValueError as error:
                counts.rows_rejected += 1
                on_reject(Rejection(number, str(text), str(error)))
        counts.lines_read += len(lines)
        counts.rows_loaded += len(out)
        if out:
            yield ''.join(out)


def check_input_files(folder: Path) -> dict[str, Table]:
    """File-level checks before any database work: the folder, the DDL and both CSV files exist,
    and no CSV file is empty. Returns the parsed DDL."""
    if not folder.is_dir():
        raise DatasetError(f'{folder}: dataset folder not found (set DATASET_DIR)')
    tables = parse_ddl(folder / DDL_FILE)
    for file_name in CSV_FILES.values():
        path = folder / file_name
        if not path.is_file():
            raise DatasetError(f'{path}: file not found')
        with path.open('rb') as handle:
            head = handle.read(64)
        if len(head) < 64 and not head.replace(UTF8_BOM, b'').strip():
            raise DatasetError(f'{path}: file is empty; refusing to replace the tables with nothing')
    return tables
