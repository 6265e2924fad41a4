"""A Mage backfill through the API of a real `mage start` server: three days of a daily event
folder re-derived after a fix. Created as the owner in two calls (the POST takes a name only;
a PUT sets the dates, the interval and the status), its three runs start at once (no
pipeline_run_limit), each reloads its own day's file and nothing else, and the tables equal a
run from nothing over the same folder. A run of the API trigger before it loads what is new and
picks no date."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.cases import SAMPLE
from tests.support.mage_server import MageServer
from tests.support.processes import wait_until
from tests.support.project import PIPELINE, copy_project
from tools.datagen.generate import generate
from tools.datagen.layout import split_events

OWNER = ('owner@example.com', 'Test-owner-pw-1')
DAYS = ('2019-05-03', '2019-05-04', '2019-05-05')
COMPARED = ('analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date', 'analytics.visitors_by_country',
            'analytics.valuable_users_by_age_group', 'analytics.answers', 'raw.rejected_rows')

pytestmark = pytest.mark.server


def published_loads(database) -> dict[str, int]:
    return dict(database.rows("select source_file, load_id from audit.file_loads where status = 'published'"))


def test_a_three_day_backfill_reloads_its_days_and_equals_a_run_from_nothing(database, databases, base_env, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    folder = tmp_path / 'data'
    generate(folder, SAMPLE)
    split_events(folder, daily=True)
    server = MageServer(base_env(folder), tmp_path, OWNER, repo=repo).start()
    try:
        (schedule,) = [s for s in server.schedules(PIPELINE) if s['name'] == 'api_trigger']
        first = server.wait_for_run(server.trigger(schedule)['id'], timeout=300)
        assert first['status'] == 'completed', server.run_logs(PIPELINE, first['id'])[-3000:]
        before = published_loads(database)
        assert len(before) == 121 and database.rows("select count(*) from audit.file_loads") == [(121,)]

        backfill = server.request('POST', f'pipelines/{PIPELINE}/backfills',
                                  {'backfill': {'name': 'three days again'}})['backfill']
        server.request('PUT', f"backfills/{backfill['id']}", {'backfill': {
            'start_datetime': f'{DAYS[0]}T00:00:00', 'end_datetime': f'{DAYS[-1]}T00:00:00',
            'interval_type': 'day', 'interval_units': 1, 'variables': {}, 'settings': {}}})
        server.request('PUT', f"backfills/{backfill['id']}", {'backfill': {'status': 'initial'}})

        def runs_ended():
            runs = server.request('GET', f"pipeline_runs?backfill_id={backfill['id']}")['pipeline_runs']
            return runs if len(runs) == len(DAYS) and all(
                run['status'] in ('completed', 'failed', 'cancelled') for run in runs) else None

        runs = wait_until(runs_ended, 600, 'the backfill runs ending', every=2)
        assert [run['status'] for run in runs] == ['completed'] * len(DAYS), \
            '\n'.join(server.run_logs(PIPELINE, run['id'])[-2000:] for run in runs)
        assert sorted(run['variables']['interval_start_datetime'][:10] for run in runs) == list(DAYS)
    finally:
        server.stop()
    # They ran at once: each publish found the state another had changed, and its models ran again.
    spans = database.rows("select started_at, ended_at from audit.pipeline_runs where mage_run->>'id' = any(%s)",
                          ([str(run['id']) for run in runs],))
    assert len(spans) == len(DAYS) and max(start for start, _ in spans) < min(end for _, end in spans), spans
    after = published_loads(database)
    assert {path for path in after if after[path] != before.get(path)} == {
        f'user_interaction/{day}.csv' for day in DAYS}
    assert database.rows("select count(*) from audit.file_loads where status = 'retired'") == [(len(DAYS),)]
    other = databases()
    single = subprocess.run([sys.executable, '-m', 'tools.run'], cwd=repo, env={**base_env(folder), **other.env},
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stdout[-2000:]
    for table in COMPARED:
        assert sorted(database.rows(f'select * from {table}')) == sorted(other.rows(f'select * from {table}')), table
