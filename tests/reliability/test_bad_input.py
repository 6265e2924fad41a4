"""The catalogue of bad inputs, each run through the whole pipeline: a row-level problem is kept
in raw.rejected_rows with its reason while the rest loads; a file-level problem stops the run,
naming the file, before the previous good tables are touched."""
import json

import pytest

from tests.conftest import REPO
from tests.helpers import output, sample_copy, snapshot

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


def test_row_level_problems_are_rejected_with_reasons_and_the_rest_loads(run_pipeline, database, tmp_path):
    data = sample_copy(tmp_path)
    events = data / 'user_interaction.csv'
    good = events.read_bytes()
    header, *cases = ROW_LEVEL.items()
    # The header only counts as one on line 1; the other bad lines follow the good ones, and one
    # more good line ends the file (a blank last line would be just a final newline).
    events.write_bytes(header[1][0] + b'\n' + good + b'\n' + b'\n'.join(line for _, (line, _) in cases)
                       + b'\n' + GOOD.encode())
    run_pipeline(data)

    good_lines = good.count(b'\n') + 2
    expected = [(1, header[1][1])] + [(good_lines + 1 + i, reason) for i, (_, (_, reason)) in enumerate(cases)]
    rejected = database.rows("select line_number, reason, raw_line from raw.rejected_rows "
                             "where source_file = 'user_interaction.csv' order by line_number")
    assert [n for n, _, _ in rejected] == [n for n, _ in expected]
    for (number, reason, raw_line), (_, expected_reason) in zip(rejected, expected):
        assert expected_reason in reason, f'line {number}: {reason!r}'
    assert rejected[-3][2] == "'X-5\\xff', 1, 'VIEW', '2019-07-04 10:00:00'"  # the raw text, bad byte shown
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    assert database.rows('select count(*) from raw.user_interaction') == [(truths['lines']['user_interaction'] + 1,)]
    assert database.rows("select lines_read, rows_loaded, rows_rejected from raw.load_audit "
                         "where source_file = 'user_interaction.csv'") == [(good_lines + len(ROW_LEVEL),
                                                                            good_lines, len(ROW_LEVEL))]


@pytest.mark.parametrize('variant', ['utf-8 BOM', 'CRLF endings', 'final newline', 'no final newline'])
def test_format_variants_give_the_same_tables(run_pipeline, database, tmp_path, variant):
    run_pipeline(REPO / 'dataset')
    expected = snapshot(database)
    data = sample_copy(tmp_path)
    for name in ('users.csv', 'user_interaction.csv'):
        path = data / name
        content = path.read_bytes()
        content = {
            'utf-8 BOM': lambda c: b'\xef\xbb\xbf' + c,
            'CRLF endings': lambda c: c.replace(b'\n', b'\r\n'),
            'final newline': lambda c: c + b'\n',
            'no final newline': lambda c: c.rstrip(b'\n'),
        }[variant](content)
        path.write_bytes(content)
    run_pipeline(data)
    assert snapshot(database) == expected


def test_unknown_event_type_loads_and_is_flagged(run_pipeline, database, tmp_path):
    data = sample_copy(tmp_path)
    events = data / 'user_interaction.csv'
    events.write_text(events.read_text() + "\n'BUY-1', 1, 'BUY', '2019-07-04 10:00:00'")
    run_pipeline(data)
    assert database.rows("select event_type, is_known_event_type from staging.stg_user_interaction "
                         "where event_id = 'BUY-1'") == [('BUY', False)]
    assert database.rows("select events from analytics.orphan_events_by_type where event_type = 'BUY'") == [(1,)]


def test_orphan_only_file_loads_and_the_answers_say_so(run_pipeline, database, tmp_path):
    data = sample_copy(tmp_path)
    lines = [f"'ORPHAN-{i}', {100000 + i}, '{t}', '2019-07-0{1 + i % 3} 10:00:00'"
             for i, t in enumerate(['VIEW', 'VIEW', 'CLICK', 'EXIT', 'VIEW'])]
    (data / 'user_interaction.csv').write_text('\n'.join(lines))
    run_pipeline(data)
    answers = dict(database.rows('select question_id, answer from analytics.answers'))
    assert answers['q1'].startswith('Most often: VIEW (3 of 3 events)')
    assert answers['q3'] == 'No known user has any event, so no country has visitors.'
    assert answers['q4'] == 'No user has at least 5 VIEW and 10 CLICK events.'


# name -> (how to break the sample folder, what the error says)
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


@pytest.mark.parametrize('case', FILE_LEVEL)
def test_file_level_problems_stop_the_run_and_keep_the_previous_tables(run_pipeline, database, tmp_path, case):
    run_pipeline(REPO / 'dataset')
    before = snapshot(database)
    data = sample_copy(tmp_path)
    breaks, message = FILE_LEVEL[case]
    breaks(data)
    process = run_pipeline(data, check=False)
    assert process.returncode != 0
    assert message in output(process)
    assert snapshot(database) == before
