"""Property-based checks of the reader: whatever rows the generator's formatter writes are read
back exactly, and whatever a file's bytes become, every line is loaded or rejected, never lost."""
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mage_project.ingest.ddl import parse_ddl
from mage_project.ingest.dialect import LoadCounts, iter_copy_lines
from tests.support.cases import TINY_DDL
from tools.datagen.generate import format_line

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Anything a value may hold inside one line: quotes, commas, spaces, backslashes, tabs, accents.
TEXT = st.text(alphabet=st.sampled_from("AZaz09-_ ',\\\t\"é€;"), max_size=5)
ROWS = st.lists(st.tuples(
    st.text(alphabet=st.sampled_from("ABCDEF0123456789-' ,\\\té"), max_size=36),
    st.integers(min_value=-2**31, max_value=2**31 - 1),
    TEXT,
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)).map(lambda d: d.replace(microsecond=0)),
), min_size=1, max_size=30)


def table(tmp: Path):
    (tmp / 'tables.sql').write_text(TINY_DDL)
    return parse_ddl(tmp / 'tables.sql')['user_interaction']


def copy_unescape(value: str) -> str:
    out, chars = [], iter(value)
    for char in chars:
        if char == '\\':
            char = {'t': '\t', 'n': '\n', 'r': '\r', '\\': '\\'}[next(chars)]
        out.append(char)
    return ''.join(out)


def load(path: Path, tmp: Path):
    counts, rejected = LoadCounts(), []
    text = ''.join(iter_copy_lines(path, table(tmp), counts, rejected.append))
    return counts, rejected, [[copy_unescape(v) for v in line.split('\t')] for line in text.splitlines()]


@SETTINGS
@given(rows=ROWS)
def test_formatted_rows_read_back_exactly(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp('rows')
    path = tmp / 'user_interaction.csv'
    path.write_text('\n'.join(format_line(row) for row in rows), encoding='utf-8')
    counts, rejected, loaded = load(path, tmp)
    assert rejected == []
    assert loaded == [[event_id, str(user_id), event_type, f'{time:%Y-%m-%d %H:%M:%S}']
                      for event_id, user_id, event_type, time in rows]


MUTATION = st.tuples(st.sampled_from(['insert', 'delete', 'replace']), st.integers(min_value=0),
                     st.sampled_from([b"'", b',', b' ', b'\n', b'\r', b'\r\n', b'\xff', b'\x00', b'\\', b'9', b'\xef\xbb\xbf']))


@SETTINGS
@given(rows=ROWS, mutations=st.lists(MUTATION, min_size=1, max_size=8))
def test_mutated_lines_are_loaded_or_rejected_never_lost(tmp_path_factory, rows, mutations):
    tmp = tmp_path_factory.mktemp('mutated')
    content = bytearray('\n'.join(format_line(row) for row in rows).encode())
    for kind, position, piece in mutations:
        at = position % (len(content) + 1)
        if kind == 'insert':
            content[at:at] = piece
        elif kind == 'delete':
            del content[at:at + 1]
        else:
            content[at:at + 1] = piece
    path = tmp / 'user_interaction.csv'
    path.write_bytes(bytes(content))
    counts, rejected, loaded = load(path, tmp)

    body = bytes(content).removeprefix(b'\xef\xbb\xbf')
    # The documented rule: lines end with LF (or CRLF), unless the file has CRs and no LF at all
    # (old Mac endings, where CR ends a line).
    end = b'\r' if b'\n' not in body and b'\r' in body[:-1] else b'\n'
    physical_lines = body.count(end) + (0 if body.endswith(end) or not body else 1)
    assert counts.lines_read == physical_lines
    assert counts.rows_loaded + counts.rows_rejected == physical_lines
    assert counts.rows_loaded == len(loaded) and counts.rows_rejected == len(rejected)
    assert len({r.line_number for r in rejected}) == len(rejected)
    assert all(1 <= r.line_number <= physical_lines and r.reason for r in rejected)
