"""The sample generator: deterministic, in the take-home format, with truths that match its files."""
import json

from mage_project.ingest.ddl import parse_ddl
from mage_project.ingest.dialect import LoadCounts, iter_copy_lines
from tests.support.project import REPO
from tools.datagen.generate import Plan, generate


def test_same_arguments_give_the_same_bytes(tmp_path):
    generate(tmp_path / 'a', Plan(users=30, events=400, seed=3))
    generate(tmp_path / 'b', Plan(users=30, events=400, seed=3))
    for name in ('tables.sql', 'users.csv', 'user_interaction.csv', 'truths.json'):
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes(), name


def test_committed_sample_is_what_the_documented_command_writes(tmp_path):
    generate(tmp_path, Plan(users=60, events=1500, seed=7))
    for name in ('tables.sql', 'users.csv', 'user_interaction.csv', 'truths.json'):
        assert (tmp_path / name).read_bytes() == (REPO / 'dataset' / name).read_bytes(), name


def test_files_are_in_the_take_home_format_and_all_load(tmp_path):
    truths = generate(tmp_path, Plan(users=40, events=900, seed=11))
    text = (tmp_path / 'user_interaction.csv').read_text()
    assert not text.endswith('\n') and text.startswith("'") and ", '" in text
    tables = parse_ddl(tmp_path / 'tables.sql')
    for name, expected_lines in truths.lines.items():
        counts, rejected = LoadCounts(), []
        list(iter_copy_lines(tmp_path / f'{name}.csv', tables[name], counts, rejected.append))
        assert rejected == [] and counts.rows_loaded == expected_lines


def test_planted_anomalies_win(tmp_path):
    plan = Plan(users=80, events=3000, seed=5, duplicate_date='2019-06-10', top_country='PL')
    truths = json.loads((generate(tmp_path, plan) and tmp_path / 'truths.json').read_text())
    orphans = truths['orphan_events_by_type']
    assert max(orphans, key=orphans.get) == 'VIEW'
    duplicates = truths['duplicate_events_by_date']
    assert max(duplicates, key=duplicates.get) == '2019-06-10'
    visitors = truths['visitors_by_country']
    assert max(visitors, key=lambda c: visitors[c]['visitors']) == 'PL'
    assert truths['valuable_users_by_age_group'] == {'18-45': plan.valuable_users}
