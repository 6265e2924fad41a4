"""What people look at rather than read: the chart widgets in the editor, the HTML report and
what `make run` prints."""
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mage_project.answers.charts import WIDGETS
from mage_project.catalog import QUESTIONS_BY_ID
from mage_project.models.sql import block_uuids
from tests.support.project import REPO, copy_project, unconfigured_environ
from tools import local_pg

EXECUTE_WIDGETS = '''
import json, os
from mage_ai.settings.repo import set_repo_path
set_repo_path(os.path.abspath('mage_project'))
from mage_ai.data_preparation.models.pipeline import Pipeline
pipeline = Pipeline('event_analytics', repo_path=os.path.abspath('mage_project'))
out = {uuid: json.loads(w.execute_sync(run_all_blocks=True)['output'])
       for uuid, w in pipeline.widgets_by_uuid.items()}
print('WIDGETS' + json.dumps(out))
'''


def test_chart_widgets_plot_the_analytics_tables(run_pipeline, database, base_env, tmp_path):
    # On a copy: executing blocks through Mage's models may save the pipeline's metadata.yaml.
    repo = copy_project(tmp_path / 'repo')
    run_pipeline(repo / 'dataset', repo=repo)
    env = base_env(repo / 'dataset')
    result = subprocess.run([sys.executable, '-c', EXECUTE_WIDGETS], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    widgets = json.loads(result.stdout.split('WIDGETS', 1)[1])
    assert set(widgets) == set(WIDGETS)
    for uuid, question_id in WIDGETS.items():
        chart = QUESTIONS_BY_ID[question_id]
        rows = database.rows(f'select {chart.label}::text, {chart.value} from analytics.{chart.table} '
                             f"where {chart.value} > {0 if chart.only_positive else -1} order by position limit 15")
        assert len(widgets[uuid]['x']) == len(rows) > 0, uuid
        assert [x.split(' → ')[0] for x in widgets[uuid]['x']] == [r[0] for r in rows], uuid
        assert widgets[uuid]['y'] == [[r[1] for r in rows]], uuid
    # Q2 draws the dates with copies, top first: no bar at 0, the planted date first.
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    assert widgets['chart_duplicate_events_by_date']['x'][0] == truths['plan']['duplicate_date']
    assert 0 not in widgets['chart_duplicate_events_by_date']['y'][0]


def test_report_of_the_take_home_files_is_the_one_the_readme_links(run_pipeline, original_dataset, tmp_path):
    run_pipeline(original_dataset, {'REPORT_DIR': str(tmp_path / 'report')})
    written = (tmp_path / 'report' / 'answers.html').read_text()
    assert written == (REPO / 'docs' / 'answers_take_home.html').read_text(), \
        'docs/answers_take_home.html is stale: copy the report of `DATASET_DIR=../shared/dataset make run`'
    assert 'docs/answers_take_home.html' in (REPO / 'README.md').read_text()


def test_make_run_prints_the_load_counts_and_the_answers(run_pipeline, database, base_env):
    run_pipeline(REPO / 'dataset')
    result = subprocess.run([sys.executable, '-m', 'tools.answers'], cwd=REPO,
                            env=base_env(REPO / 'dataset'), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    lines = truths['lines']['user_interaction']
    assert f'user_interaction.csv: {lines} lines, {lines} loaded, 0 rejected' in result.stdout
    printed = ' '.join(result.stdout.split())  # the answers are wrapped at 100 columns
    for question_id, answer in database.rows('select question_id, answer from analytics.answers'):
        assert f'{question_id}. ' in printed and ' '.join(answer.split()) in printed


def test_make_run_shows_one_line_per_block_and_the_answers_once_and_keeps_mage_s_log(base_env, database, tmp_path):
    env = base_env(REPO / 'dataset')
    command = [sys.executable, '-m', 'tools.run']
    quiet = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stdout[-3000:] + quiet.stderr[-3000:]
    printed = quiet.stdout + quiet.stderr
    for block in block_uuids():
        assert len(re.findall(rf'^  {block} +done +\d+\.\ds', printed, re.M)) == 1, f'{block}:\n{printed}'
    for question_id in ('q1', 'q2', 'q3', 'q4'):
        assert len(re.findall(rf'^{question_id}\. ', printed, re.M)) == 1, printed
    for noise in ('WARNING', 'traitlets', 'DBT library', 'DONE', 'tests passed', 'Traceback'):
        assert noise not in printed, f'{noise!r} in the summary:\n{printed}'
    log = Path(re.search(r'^Full log: (.+)$', printed, re.M)[1])
    assert log.is_relative_to(tmp_path) and 'tests passed' in log.read_text()  # Mage's output, kept
    verbose = subprocess.run([*command, '-v'], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert verbose.returncode == 0 and 'tests passed' in verbose.stdout + verbose.stderr
    assert 'Full log:' not in verbose.stdout


def test_make_run_exits_with_the_run_s_status_and_its_whole_summary(base_env, database, tmp_path):
    # A first run on a new database that fails before start_run has made the audit tables: the
    # summary names the failure (not a traceback of its own) and the process exits 1, its buffered
    # summary all out.
    env = base_env(tmp_path / 'no-such-folder')
    env.pop('PYTHONUNBUFFERED', None)  # a pipe, buffered as it is for anyone who pipes make run
    failed = subprocess.run([sys.executable, '-m', 'tools.run'], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    said = failed.stdout[-3000:] + failed.stderr[-3000:]
    assert failed.returncode == 1, said
    lines = failed.stdout.rstrip().splitlines()
    assert len(lines) > 2 and re.match(r'run \S+ failed in start_run after \d+\.\ds, not published \(the previous '
                                       r'tables stay\): DatasetError: .*no-such-folder', lines[-2]), said
    assert lines[-1].startswith('Full log: ') and Path(lines[-1].removeprefix('Full log: ')).is_file()
    assert re.search(r'^  start_run +failed', failed.stdout, re.M), failed.stdout


@pytest.mark.db
@pytest.mark.mage  # a whole run, without the fixtures that mark one
def test_make_run_without_a_configured_server_starts_the_embedded_one_and_reuses_it():
    # A clean checkout's `make run`: no POSTGRES_* anywhere, so run.py starts the embedded Postgres
    # in the checkout's .pgdata. The copy is in a folder of its own that the server's user can reach.
    repo = Path(tempfile.mkdtemp(prefix='make-run-'))
    repo.chmod(0o755)
    copy_project(repo / 'checkout')
    checkout = repo / 'checkout'
    env = unconfigured_environ() | {'MAGE_DATA_DIR': str(repo / 'mage_data'), 'REPORT_DIR': str(repo / 'reports')}
    try:
        for attempt in ('starts', 'reuses'):
            result = subprocess.run([sys.executable, '-m', 'tools.run'], cwd=checkout, env=env,
                                    capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f'{attempt}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}'
            assert re.search(r'^run \S+( published in|: nothing new, nothing published)', result.stdout, re.M), \
                result.stdout
            assert local_pg.running_pid(checkout / '.pgdata'), attempt
    finally:
        local_pg.stop(checkout / '.pgdata')
        shutil.rmtree(repo, ignore_errors=True)
    assert local_pg.running_pid(checkout / '.pgdata') is None
