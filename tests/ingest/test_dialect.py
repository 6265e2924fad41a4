"""The take-home's CSV dialect, line by line, on tiny files: values, rejections with their reasons,
adjusted values, line endings, gzip."""
import gzip
from pathlib import Path

import pytest

from mage_project.ingest import dialect
from mage_project.ingest.dialect import DatasetError, LoadCounts, iter_copy_lines, iter_line_blocks

GOOD = "'A1', 3, 'CLICK', '2019-05-05 14:05:20'"


def read(tmp_path: Path, tables, content: bytes, table: str = 'user_interaction'):
    path = tmp_path / f'{table}.csv'
    path.write_bytes(content)
    counts, rejected = LoadCounts(), []
    rows = ''.join(iter_copy_lines(path, tables[table], counts, rejected.append)).splitlines(keepends=True)
    assert counts.balanced, counts
    assert counts.rows_loaded == len(rows) and counts.rows_rejected == len(rejected)
    return rows, rejected


def test_take_home_dialect_quotes_spaces_and_no_final_newline(tmp_path, tables):
    rows, rejected = read(tmp_path, tables, (GOOD + '\n' + GOOD.replace('A1', 'A2')).encode())
    assert rows == ['A1\t3\tCLICK\t2019-05-05 14:05:20\n', 'A2\t3\tCLICK\t2019-05-05 14:05:20\n']
    assert rejected == []


@pytest.mark.parametrize('content', [
    GOOD.encode() + b'\r\n' + GOOD.encode() + b'\r\n',   # CRLF
    b'\xef\xbb\xbf' + GOOD.encode() + b'\n' + GOOD.encode(),  # BOM, no final newline
])
def test_line_endings_and_bom_do_not_change_the_rows(tmp_path, tables, content):
    rows, rejected = read(tmp_path, tables, content)
    assert rows == ['A1\t3\tCLICK\t2019-05-05 14:05:20\n'] * 2 and rejected == []


@pytest.mark.parametrize('line, reason', [
    ("'A1', x, 'CLICK', '2019-05-05 14:05:20'", "user_id is not an integer: 'x'"),
    ("'A1', 99999999999, 'CLICK', '2019-05-05 14:05:20'", 'user_id is out of range'),
    ("'A1', 3, 'CLICK', '2019-02-30 14:05:20'", 'event_time is not a valid date and time'),
    ("'A1', 3, 'CLICK', 'yesterday'", 'event_time is not a timestamp'),
    ("'A1', 3, 'SCROLL', '2019-05-05 14:05:20'", 'event_type is longer than 5 characters'),
    ("'A1', 3, 'CLICK'", 'has 3 fields; expected 4'),
    ("'A1', 3, 'CLICK', '2019-05-05 14:05:20', 'extra'", 'has 5 fields; expected 4'),
    ("'A1, 3, 'CLICK', '2019-05-05 14:05:20'", 'not valid CSV'),
    ("", 'blank line'),
])
def test_bad_rows_are_rejected_with_line_number_and_reason(tmp_path, tables, line, reason):
    rows, rejected = read(tmp_path, tables, f'{GOOD}\n{line}\n{GOOD}'.encode())
    assert len(rows) == 2
    assert [(r.line_number, r.raw_text) for r in rejected] == [(2, line)]
    assert reason in rejected[0].reason


def test_an_open_quote_rejects_only_its_own_line(tmp_path, tables):
    rows, rejected = read(tmp_path, tables, f"'A1, 3\n{GOOD}\n{GOOD}".encode())
    assert len(rows) == 2
    assert [r.line_number for r in rejected] == [1]


def test_non_utf8_byte_is_rejected_with_its_text(tmp_path, tables):
    rows, rejected = read(tmp_path, tables, GOOD.encode() + b"\n'A\xff', 3, 'VIEW', '2019-05-05 14:05:20'")
    assert len(rows) == 1
    assert rejected[0].line_number == 2 and 'byte 0xff' in rejected[0].reason
    assert '\\xff' in rejected[0].raw_text


def test_header_line_is_rejected_as_header(tmp_path, tables):
    rows, rejected = read(tmp_path, tables, f'event_id, user_id, event_type, event_time\n{GOOD}'.encode())
    assert len(rows) == 1 and rejected[0].reason == 'header line (column names), not data'


def test_quotes_inside_values_and_copy_escapes(tmp_path, tables):
    rows, _ = read(tmp_path, tables, b"'O''Brien\\x', 3, 'VIEW', '2019-05-05 14:05:20'")
    assert rows == ["O'Brien\\\\x\t3\tVIEW\t2019-05-05 14:05:20\n"]


def test_unknown_event_type_that_fits_the_column_is_loaded(tmp_path, tables):
    rows, rejected = read(tmp_path, tables, b"'A1', 3, 'BUY', '2019-05-05 14:05:20'")
    assert len(rows) == 1 and rejected == []


@pytest.mark.parametrize('content', [
    b"a\nbb\nccc", b"a\r\nbb\r\nccc\r\n", b"\xef\xbb\xbfa\n\nccc\n", b"only", b"x\xffy\nz\n",
])
@pytest.mark.parametrize('block_bytes', [1, 2, 3, 1 << 20])
def test_line_blocks_number_every_line_whatever_the_block_size(tmp_path, content, block_bytes):
    path = tmp_path / 'f.csv'
    path.write_bytes(content)
    expected = content.removeprefix(b'\xef\xbb\xbf').decode('utf-8', 'backslashreplace').replace('\r\n', '\n')
    expected_lines = expected[:-1].split('\n') if expected.endswith('\n') else expected.split('\n')
    numbered = [(first + i, line) for first, lines in iter_line_blocks(path, block_bytes)
                for i, line in enumerate(lines)]
    assert numbered == list(enumerate(expected_lines, start=1))


def test_values_that_need_escaping_or_checking_leave_the_fast_path_intact(tmp_path, tables):
    lines = ["'A1', 3, 'CLICK', '2019-02-29 14:05:20'",   # not a leap year
             "'A2', 3, 'CLICK', '2020-02-29 14:05:20'",   # a leap year
             "'A3', 2147483648, 'CLICK', '2019-05-05 14:05:20'",
             "'A4',3,'CLICK','2019-05-05 14:05:20'",       # no spaces: still the dialect
             "'A\\5', -7, 'VIEW', '2019-12-31 23:59:59'"]
    rows, rejected = read(tmp_path, tables, '\n'.join(lines).encode())
    assert rows == ['A2\t3\tCLICK\t2020-02-29 14:05:20\n', 'A4\t3\tCLICK\t2019-05-05 14:05:20\n',
                    'A\\\\5\t-7\tVIEW\t2019-12-31 23:59:59\n']
    assert [(r.line_number, r.reason.split(':')[0]) for r in rejected] == [
        (1, 'event_time is not a valid date and time'), (3, 'user_id is out of range')]


def test_a_line_without_end_is_a_file_error_naming_the_line(tmp_path, monkeypatch):
    monkeypatch.setattr(dialect, 'MAX_LINE_BYTES', 64)
    path = tmp_path / 'user_interaction.csv'
    path.write_bytes(GOOD.encode() + b'\n' + b'x' * 200)
    with pytest.raises(DatasetError, match=r'user_interaction.csv, line 2: over 64 bytes without a line break'):
        list(iter_line_blocks(path, block_bytes=16))


def read_with_notes(tmp_path, tables, content: bytes, name='user_interaction.csv', table='user_interaction'):
    path = tmp_path / name
    path.write_bytes(content)
    counts, rejected, adjusted = LoadCounts(), [], []
    rows = ''.join(iter_copy_lines(path, tables[table], counts, rejected.append, adjusted.append))
    assert counts.balanced and counts.values_adjusted == len(adjusted)
    return rows.splitlines(keepends=True), rejected, adjusted


@pytest.mark.parametrize('name', ['user_interaction.csv.gz', 'user_interaction.csv'])
def test_gzip_is_read_transparently_whatever_the_name(tmp_path, tables, name):
    rows, rejected, _ = read_with_notes(tmp_path, tables, gzip.compress(f'{GOOD}\n{GOOD}'.encode()), name)
    assert rows == ['A1\t3\tCLICK\t2019-05-05 14:05:20\n'] * 2 and rejected == []


def test_a_broken_gzip_file_is_a_file_error_naming_it(tmp_path, tables):
    with pytest.raises(DatasetError, match=r'user_interaction.csv.gz: not a readable gzip file'):
        read_with_notes(tmp_path, tables, gzip.compress(GOOD.encode() * 100)[:40], 'user_interaction.csv.gz')


@pytest.mark.parametrize('block_bytes', [1, 7, 1 << 20])
def test_old_mac_cr_line_endings_are_lines(tmp_path, block_bytes):
    path = tmp_path / 'f.csv'
    path.write_bytes(b'a\rbb\r\rccc\r')
    numbered = [(first + i, line) for first, lines in iter_line_blocks(path, block_bytes)
                for i, line in enumerate(lines)]
    assert numbered == [(1, 'a'), (2, 'bb'), (3, ''), (4, 'ccc')]


@pytest.mark.parametrize('written, loaded, noted', [
    # what Postgres keeps as written
    ('2019-05-05T14:05:20', '2019-05-05T14:05:20', False),
    ('2019-05-05 14:05:20.123456', '2019-05-05 14:05:20.123456', False),
    ('2019-05-05T14:05', '2019-05-05T14:05', False),
    # a UTC offset, which timestamp without time zone would drop: converted to UTC and noted
    ('2019-05-05T14:05:20Z', '2019-05-05 14:05:20', True),
    ('2019-05-05 14:05:20+02:00', '2019-05-05 12:05:20', True),
    ('2019-05-05T01:05:20.5-0130', '2019-05-05 02:35:20.500000', True),
])
def test_iso_timestamps_load_and_offsets_become_utc(tmp_path, tables, written, loaded, noted):
    rows, rejected, adjusted = read_with_notes(tmp_path, tables, f"{GOOD}\n'A1', 3, 'VIEW', '{written}'".encode())
    assert rows[1] == f'A1\t3\tVIEW\t{loaded}\n' and rejected == []
    expected = [(2, 'event_time', written, loaded)] if noted else []
    assert [(a.line_number, a.column, a.raw_value, a.loaded_value) for a in adjusted] == expected
    assert all('converted to UTC' in a.reason for a in adjusted)


@pytest.mark.parametrize('written, reason', [
    ('2019-13-05 14:05:20', 'not a valid date and time'),
    ('2019-05-05 24:00:00', 'not a valid date and time'),
    ('2019-05-05 14:05:20.1234567', 'not a timestamp'),
    ('2019-05-05 14:05:20 CET', 'not a timestamp'),
])
def test_truly_invalid_timestamps_stay_rejected(tmp_path, tables, written, reason):
    _, rejected, _ = read_with_notes(tmp_path, tables, f"'A1', 3, 'VIEW', '{written}'".encode())
    assert len(rejected) == 1 and reason in rejected[0].reason


def test_trailing_spaces_beyond_a_varchar_are_cut_as_postgres_does(tmp_path, tables):
    rows, rejected, adjusted = read_with_notes(
        tmp_path, tables, b"1, '18-45', 'DE '\n2, '18-45', 'D '\n3, '18-45', 'DEX'", 'users.csv', 'users')
    assert rows == ['1\t18-45\tDE\n', '2\t18-45\tD \n']
    assert [(r.line_number, r.reason) for r in rejected] == [(3, "country is longer than 2 characters: 'DEX'")]
    assert [(a.line_number, a.raw_value, a.loaded_value) for a in adjusted] == [(1, 'DE ', 'DE')]
