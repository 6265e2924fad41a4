"""Incremental runs through `make run`'s program (Mage's executor, the pipeline's blocks): event
files arriving in a folder, one changed, one missing, one re-delivered under another name, a run
with nothing new, a full refresh and a window of days reloaded; each compared with a run from
nothing over the same folder in a database of its own."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.cases import SAMPLE
from tests.support.database import Database
from tests.support.project import REPO
from tools.datagen.generate import generate
from tools.datagen.layout import split_events

pytestmark = pytest.mark.mage

COMPARED = ('analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date', 'analytics.visitors_by_country',
            'analytics.valuable_users_by_age_group', 'analytics.answers', 'raw.rejected_rows', 'raw.adjusted_values',
            'intermediate.int_event_copies', 'intermediate.int_user_events', 'intermediate.int_users')


def tables(database: Database) -> dict[str, list]:
    result = {name: sorted(database.rows(f'select * from {name}'), key=repr) for name in COMPARED}
    result['raw.user_interaction'] = sorted(database.rows(
        'select event_id, user_id, event_type, event_time from raw.user_interaction'), key=repr)
    result['raw.load_audit'] = sorted(database.rows(
        'select source_file, lines_read, rows_loaded, rows_rejected from raw.load_audit'))
    return result


@pytest.fixture
def daily(tmp_path):
    """The sample, its events as one file per day: the first 40 days in the folder, the rest aside."""
    full = tmp_path / 'full'
    generate(full, SAMPLE)
    split_events(full, daily=True)
    folder = tmp_path / 'data'
    shutil.copytree(full, folder)
    later = sorted((folder / 'user_interaction').iterdir())[40:]
    for path in later:
        path.unlink()
    return folder, full


def make_run(base_env, folder, *options) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, '-m', 'tools.run', *options], cwd=REPO, env=base_env(folder),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def from_nothing(base_env, other: Database, folder) -> dict[str, list]:
    """The same folder, one run in an empty database of its own."""
    make_run(lambda dataset: {**base_env(dataset), **other.env}, folder)
    return tables(other)


def last_line(result) -> str:
    return [line for line in result.stdout.splitlines() if line.startswith('run ')][-1]


def test_new_changed_and_redelivered_files_and_a_run_with_nothing_new(base_env, database, databases, daily):
    folder, full = daily
    first = make_run(base_env, folder)
    assert 'published' in last_line(first) and '40 new files' in last_line(first)
    # The rest arrives, one early day is delivered again with a line more, one day again under another
    # name, and a file is being written.
    events = folder / 'user_interaction'
    for path in sorted((full / 'user_interaction').iterdir())[40:]:
        shutil.copy(path, events / path.name)
    changed = sorted(events.iterdir())[3]
    changed.write_text(changed.read_text() + "\n'CHANGED-1', 1, 'VIEW', '" + changed.stem + " 10:00:00'")
    copy = sorted(events.iterdir())[5]
    shutil.copy(copy, events / f'resent_{copy.name}')
    (events / 'next.csv.tmp').write_text('half a line')
    second = make_run(base_env, folder)
    words = last_line(second)
    assert 'published' in words and '80 new files, 1 changed, 39 unchanged, 1 re-delivered, 1 ignored' in words
    assert 'ignored (not event files): user_interaction/next.csv.tmp' in second.stdout
    relative = f'user_interaction/{changed.name}'
    assert database.rows('select status from audit.file_loads where source_file = %s order by load_id',
                         (relative,)) == [('retired',), ('published',)]
    assert database.rows("select count(*) from raw.user_interaction where event_id = 'CHANGED-1'") == [(1,)]
    assert database.rows("select f.status, o.source_file from audit.file_loads f join audit.file_loads o "
                         "on o.load_id = f.redelivery_of where f.source_file = %s",
                         (f'user_interaction/resent_{copy.name}',)) == [('redelivery', f'user_interaction/{copy.name}')]
    # Nothing new: nothing published, and it says so.
    third = make_run(base_env, folder)
    assert 'nothing new, nothing published' in last_line(third) and '0 new files' in last_line(third)
    assert database.rows('select status from audit.pipeline_runs order by started_at desc limit 1') == [('unchanged',)]
    assert tables(database) == from_nothing(base_env, databases(), folder)


def test_a_missing_file_keeps_its_rows_until_a_full_refresh(base_env, database, databases, daily):
    folder, _ = daily
    make_run(base_env, folder)
    gone = sorted((folder / 'user_interaction').iterdir())[0]
    lines = len(gone.read_text().splitlines())
    gone.unlink()
    kept = make_run(base_env, folder)
    assert f'missing (their rows are kept; a full refresh drops them): user_interaction/{gone.name}' in kept.stdout
    assert database.rows('select rows_loaded from raw.load_audit where source_file = %s',
                         (f'user_interaction/{gone.name}',)) == [(lines,)]
    refreshed = make_run(base_env, folder, '--full-refresh')
    assert 'full refresh of 39 files' in last_line(refreshed)
    assert f'dropped by the full refresh (no longer in the folder): user_interaction/{gone.name}' in refreshed.stdout
    assert tables(database) == from_nothing(base_env, databases(), folder)
    assert database.rows("select count(*) from audit.file_loads where status = 'published'") == [(40,)]


def test_a_window_reloads_its_days_only(base_env, database, daily):
    folder, _ = daily
    make_run(base_env, folder)
    before = dict(database.rows("select source_file, load_id from audit.file_loads where status = 'published'"))
    result = make_run(base_env, folder, '--from', '2019-05-03', '--to', '2019-05-04')
    assert '0 new files, 2 reloaded in the window, 38 unchanged' in last_line(result)
    after = dict(database.rows("select source_file, load_id from audit.file_loads where status = 'published'"))
    assert {path for path in after if after[path] != before[path]} == {
        'user_interaction/2019-05-03.csv', 'user_interaction/2019-05-04.csv'}
