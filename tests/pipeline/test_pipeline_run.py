"""Whole runs of the Mage pipeline against a real Postgres, checked table by table."""
import json

from tests.support.database import answers, published_tables, snapshot
from tests.support.oracle import expected_tables, question_group
from tests.support.project import REPO, sample_copy


def test_sample_run_finds_the_planted_truths(run_pipeline, database):
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    run_pipeline(REPO / 'dataset')

    tables = published_tables(database)
    for name in tables:
        assert tables[name] == truths[name], name
    plan, said = truths['plan'], answers(database)
    assert said['q1'].startswith(f"Most often: {plan['orphan_types'][0]} (")
    assert said['q2'].startswith(f"The date: {plan['duplicate_date']} (")
    assert said['q3'].startswith(f"{plan['top_country']}, with ")
    assert said['q4'].startswith(f"{question_group(plan['valuable_age'])}. ")
    lines_in = sum(truths['lines'].values())
    assert database.rows('select sum(lines_read), sum(rows_loaded), sum(rows_rejected) from raw.load_audit') == \
        [(lines_in, lines_in, 0)]


def test_original_dataset_matches_an_independent_reading(run_pipeline, database, original_dataset):
    run_pipeline(original_dataset)
    assert published_tables(database) == expected_tables(original_dataset)
    (rejected,) = database.rows('select count(*) from raw.rejected_rows')[0]
    assert rejected == 0


def test_readme_answers_are_the_pipelines(run_pipeline, database, original_dataset):
    run_pipeline(original_dataset)
    readme = ' '.join((REPO / 'README.md').read_text().split())
    for question_id, answer in sorted(answers(database).items()):
        assert answer in readme, f'README.md does not give the pipeline answer to {question_id}: {answer}'


def test_rerun_leaves_identical_tables(run_pipeline, database):
    run_pipeline(REPO / 'dataset')
    first = snapshot(database)
    run_pipeline(REPO / 'dataset')
    assert snapshot(database) == first


def test_bad_rows_are_kept_with_reasons_and_the_rest_loads(run_pipeline, database, tmp_path):
    data = sample_copy(tmp_path)
    events = data / 'user_interaction.csv'
    good = events.read_text()
    bad = ["'X1', seven, 'VIEW', '2019-05-05 14:05:20'", "'X2', 7, 'SCROLL', '2019-05-05 14:05:20'"]
    events.write_text(good + '\n' + '\n'.join(bad))
    run_pipeline(data)
    lines = good.count('\n') + 1
    rejected = database.rows(
        "select line_number, raw_line, reason from raw.rejected_rows where source_file = 'user_interaction.csv' "
        'order by line_number')
    assert [(n, text) for n, text, _ in rejected] == [(lines + 1, bad[0]), (lines + 2, bad[1])]
    assert 'user_id is not an integer' in rejected[0][2] and 'longer than 5' in rejected[1][2]
    assert database.rows('select count(*) from raw.user_interaction') == [(lines,)]
