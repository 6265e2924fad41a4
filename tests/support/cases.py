"""The catalogues of bad input and of format variants, written once: the whole-run tests
(tests/reliability), the readers' tests (tests/ingest) and the engines' comparison (tests/spark) all
take their cases from here."""
from __future__ import annotations

import gzip
from pathlib import Path

from tools.datagen.generate import Plan, generate
from tools.datagen.traps import plant

SAMPLE = Plan(users=60, events=1500, seed=7)  # the committed sample's plan (dataset/README.md)
# The take-home's DDL, one table a line (the readers' tests parse it in tests/ingest/conftest.py).
TINY_DDL = """create table users (user_id int, age varchar(5), country varchar(2));
create table user_interaction (event_id varchar(36), user_id int, event_type varchar(5), event_time timestamp);"""
GOOD = "'0A0A0A0A-0000-0000-0000-000000000001', 1, 'VIEW', '2019-07-04 10:00:00'"

# name -> (bytes of one line in user_interaction.csv, what its rejection reason says)
ROW_LEVEL = {
    'header line': (b'event_id, user_id, event_type, event_time', 'header line (column names)'),
    'wrong field count': (b"'X-1', 1, 'VIEW'", 'has 3 fields; expected 4'),
    'non-integer user_id': (b"'X-2', one, 'VIEW', '2019-07-04 10:00:00'", "user_id is not an integer: 'one'"),
    'unparseable timestamp': (b"'X-3', 1, 'VIEW', '2019-13-45 25:00:00'", 'event_time is not a valid date and time'),
    'event_type longer than varchar(5)': (b"'X-4', 1, 'SCROLL', '2019-07-04 10:00:00'",
                                          'event_type is longer than 5 characters'),
    'non-UTF-8 byte': (b"'X-5\xff', 1, 'VIEW', '2019-07-04 10:00:00'", 'not valid UTF-8: byte 0xff'),
    'quote inside a value': (b"'X-'6', 1, 'VIEW', '2019-07-04 10:00:00'", 'not valid CSV'),
    'blank line': (b'', 'blank line'),
}


def bad_lines(folder: Path) -> None:
    """The row-level catalogue in ``folder``'s user_interaction.csv: a header on line 1, the good
    lines, every bad line, and one more good line to end the file (a blank last line would be just
    a final newline)."""
    events = folder / 'user_interaction.csv'
    header, *cases = ROW_LEVEL.values()
    events.write_bytes(header[0] + b'\n' + events.read_bytes() + b'\n'
                       + b'\n'.join(line for line, _ in cases) + b'\n' + GOOD.encode())


def cut_gzip(path: Path) -> None:
    """``path`` replaced by its gzip, cut short."""
    path.with_suffix('.csv.gz').write_bytes(gzip.compress(path.read_bytes())[:-200])
    path.unlink()


# name -> (how to break a copy of the sample folder, what the error says)
FILE_LEVEL = {
    'empty user_interaction.csv': (lambda d: (d / 'user_interaction.csv').write_bytes(b''),
                                   'user_interaction.csv: file is empty'),
    'empty users.csv': (lambda d: (d / 'users.csv').write_bytes(b'\n'), 'users.csv: file is empty'),
    'missing users.csv': (lambda d: (d / 'users.csv').unlink(), 'users.csv: file not found'),
    'missing user_interaction.csv': (lambda d: (d / 'user_interaction.csv').unlink(),
                                     'user_interaction.csv: file not found'),
    'missing tables.sql': (lambda d: (d / 'tables.sql').unlink(), 'tables.sql: file not found'),
    'broken tables.sql': (lambda d: (d / 'tables.sql').write_text(
        'create table users (user_id int, age varchar(5), country varchar(2));\n'
        'create table user_interaction (event_id varchar(36), user_id int, event_type varchar(5), seen timestamp);'),
        'tables.sql, line 2: table user_interaction has columns event_id, user_id, event_type, seen'),
}
# And two that only a compressed file can have.
GZIP_FILE_LEVEL = {
    'broken gzip': (lambda d: cut_gzip(d / 'user_interaction.csv'), 'user_interaction.csv.gz: not a readable gzip file'),
    'csv and csv.gz both': (lambda d: (d / 'users.csv.gz').write_bytes(gzip.compress((d / 'users.csv').read_bytes())),
                            'users.csv and users.csv.gz both exist'),
}

# name -> how a file's bytes are written differently, with the same rows in the end
FORMAT_VARIANTS = {
    'utf-8 BOM': lambda content: b'\xef\xbb\xbf' + content,
    'CRLF endings': lambda content: content.replace(b'\n', b'\r\n'),
    'final newline': lambda content: content + b'\n',
    'no final newline': lambda content: content.rstrip(b'\n'),
    'stray CR inside a line': lambda content: content.replace(b"'VIEW'", b"'VI\rEW'", 3),
}
# The variants after which the tables are those of the sample (a stray CR changes a value).
SAME_TABLES_VARIANTS = tuple(name for name in FORMAT_VARIANTS if name != 'stray CR inside a line')


def write_variant(folder: Path, name: str) -> None:
    """Both CSV files of ``folder`` rewritten in the format variant ``name``."""
    for path in (folder / 'users.csv', folder / 'user_interaction.csv'):
        path.write_bytes(FORMAT_VARIANTS[name](path.read_bytes()))


def trapped(tmp_path: Path, *traps: str) -> Path:
    """The sample, generated again, with ``traps`` planted (tools/datagen/traps.py)."""
    folder = tmp_path / '-'.join(traps)
    generate(folder, SAMPLE)
    plant(folder, list(traps))
    return folder
