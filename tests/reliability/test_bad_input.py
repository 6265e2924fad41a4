"""The catalogue of bad inputs, each run through the whole pipeline: a row-level problem is kept
in raw.rejected_rows with its reason while the rest loads; a file-level problem stops the run,
naming the file, before the previous good tables are touched."""
import json

import pytest

from tests.support.cases import FILE_LEVEL, GZIP_FILE_LEVEL, ROW_LEVEL, SAME_TABLES_VARIANTS, bad_lines, write_variant
from tests.support.database import snapshot
from tests.support.project import REPO, output, sample_copy

REFUSED = {**FILE_LEVEL, **GZIP_FILE_LEVEL}


def test_row_level_problems_are_rejected_with_reasons_and_the_rest_loads(run_pipeline, database, tmp_path):
    data = sample_copy(tmp_path)
    good = (data / 'user_interaction.csv').read_bytes()
    bad_lines(data)
    run_pipeline(data)

    # bad_lines: the header on line 1, the good lines, every other bad line, one more good line
    good_lines = good.count(b'\n') + 2
    (_, header_reason), *others = ROW_LEVEL.values()
    expected = [(1, header_reason)] + [(good_lines + 1 + i, reason) for i, (_, reason) in enumerate(others)]
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


@pytest.mark.parametrize('variant', SAME_TABLES_VARIANTS)
def test_format_variants_give_the_same_tables(run_pipeline, database, tmp_path, variant):
    run_pipeline(REPO / 'dataset')
    expected = snapshot(database)
    data = sample_copy(tmp_path)
    write_variant(data, variant)
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


@pytest.mark.parametrize('case', REFUSED)
def test_file_level_problems_stop_the_run_and_keep_the_previous_tables(run_pipeline, database, tmp_path, case):
    run_pipeline(REPO / 'dataset')
    before = snapshot(database)
    data = sample_copy(tmp_path)
    breaks, message = REFUSED[case]
    breaks(data)
    process = run_pipeline(data, check=False)
    assert process.returncode != 0
    assert message in output(process)
    assert snapshot(database) == before
