"""Incremental runs that overlap or die: two runs started at once never load a file twice (one
waits for the other's load of a file and publishes it, or finds it published), and a run killed in
the middle of its third of five new files loses nothing: the next run publishes the two it had
loaded and loads the other three, nothing twice. Through `make run`'s program."""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support.cases import SAMPLE
from tests.support.database import wait_for
from tests.support.processes import wait_until
from tests.support.project import REPO, copy_project
from tools.datagen.generate import generate
from tools.datagen.layout import split_events

pytestmark = pytest.mark.mage


def run_program(base_env, folder, tmp_path, name) -> subprocess.Popen:
    env = base_env(folder, {'MAGE_DATA_DIR': str(tmp_path / f'mage_{name}')})
    return subprocess.Popen([sys.executable, '-m', 'tools.run'], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def loads_per_file(database) -> list[tuple]:
    """Files loaded more than once (refused and re-delivered rows aside)."""
    return database.rows("select source_file, count(*) from audit.file_loads where status in "
                         "('loaded', 'published', 'retired', 'discarded') group by 1 having count(*) > 1")


def test_two_runs_at_once_never_load_a_file_twice(base_env, database, databases, tmp_path):
    folder = tmp_path / 'data'
    generate(folder, SAMPLE)
    split_events(folder, daily=True)
    runs = [run_program(base_env, folder, tmp_path, name) for name in ('a', 'b')]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], '\n'.join(output[-3000:] for output in outputs)
    assert loads_per_file(database) == []
    files = len(list((folder / 'user_interaction').iterdir()))
    assert database.rows("select count(*) from audit.file_loads where status = 'published'") == [(files + 1,)]
    # Each file was read once, by one of the two: the other published it, or waited and took it.
    endings = sorted(line.split()[2] for output in outputs for line in output.splitlines()
                     if line.startswith('run ') and ' in ' in line)
    assert endings in (['nothing', 'published'], ['published', 'published']), outputs
    other = databases()
    single = subprocess.run([sys.executable, '-m', 'tools.run'], cwd=REPO, env={**base_env(folder), **other.env},
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stdout[-2000:]
    for table in ('analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date',
                  'analytics.visitors_by_country', 'analytics.valuable_users_by_age_group', 'analytics.answers'):
        assert sorted(database.rows(f'select * from {table}')) == sorted(other.rows(f'select * from {table}')), table


def test_a_run_on_another_dataset_dir_published_meanwhile_is_replaced_whole(base_env, database, tmp_path):
    """Run B loads its folder, then waits in select_changes until run A, on another folder whose
    files have the same names, has loaded and published (A's loads are the newer). B then replaces
    A's files as a full refresh of its own folder: none of B's files is taken for A's."""
    repo = copy_project(tmp_path / 'waiting')
    block = repo / 'mage_project' / 'transformers' / 'select_changes.py'
    resume = tmp_path / 'resume'
    block.write_text(block.read_text().replace('    return changes_of_the_run(kwargs)', (
        '    import pathlib, time\n'
        f'    while not pathlib.Path({str(resume)!r}).exists():\n'
        '        time.sleep(0.1)\n'
        '    return changes_of_the_run(kwargs)')))
    other = tmp_path / 'other'
    generate(other, dataclasses.replace(SAMPLE, seed=SAMPLE.seed + 1))
    b = subprocess.Popen([sys.executable, '-m', 'tools.run'], cwd=repo,
                         env=base_env(other, {'MAGE_DATA_DIR': str(tmp_path / 'mage_b')}),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(database, f"select count(*) >= 2 from audit.file_loads where dataset_dir = '{other}' "
                           "and status = 'loaded'")
        a = subprocess.run([sys.executable, '-m', 'tools.run'], cwd=REPO, capture_output=True, text=True,
                           env=base_env(REPO / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'mage_a')}), timeout=600)
        assert a.returncode == 0, a.stdout[-3000:]
    finally:
        resume.touch()
    output = b.communicate(timeout=600)[0]
    assert b.returncode == 0, output[-3000:]
    assert database.rows("select distinct dataset_dir from audit.file_loads where status = 'published'") == \
        [(str(other),)]
    lines = sum(1 for _ in (other / 'user_interaction.csv').open())
    assert database.rows('select count(*) from raw.user_interaction') == [(lines,)]
    assert database.rows('select count(*) from raw.users') == [(sum(1 for _ in (other / 'users.csv').open()),)]


def big_file(path, lines: int) -> None:
    with path.open('w') as handle:
        handle.write('\n'.join(f"'BIG-{index:09d}', {index % 60 + 1}, 'VIEW', '2019-05-03 10:00:00'"
                               for index in range(lines)))


def test_a_run_killed_in_its_third_of_five_files_loses_nothing(base_env, database, tmp_path):
    folder = tmp_path / 'data'
    generate(folder, SAMPLE)
    split_events(folder, daily=True)
    events = folder / 'user_interaction'
    aside = tmp_path / 'aside'
    aside.mkdir()
    for path in sorted(events.iterdir())[1:]:
        shutil.move(path, aside / path.name)
    first = run_program(base_env, folder, tmp_path, 'first')
    assert first.communicate(timeout=600)[0] and first.returncode == 0
    # Five new files; the third is large enough to be caught while it loads.
    new = sorted(aside.iterdir())[:5]
    for path in new:
        shutil.move(path, events / path.name)
    big_file(events / new[2].name, 1_500_000)
    killed = run_program(base_env, folder, tmp_path, 'killed')
    wait_until(lambda: database.rows("select count(*) from audit.file_loads where status = 'loaded'")[0][0] == 2
               and database.rows("select count(*) from pg_stat_activity where query ilike 'copy %%events_%%' and state = 'active'")[0][0],
               120, 'the killed run loading its third file')
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    assert database.rows("select source_file from audit.file_loads where status = 'loaded' order by 1") == [
        (f'user_interaction/{path.name}',) for path in new[:2]]
    wait_until(lambda: database.rows("select count(*) from pg_stat_activity where query ilike 'copy %%events_%%' and state = 'active'")
               == [(0,)], 60, 'the killed load rolled back')
    after = run_program(base_env, folder, tmp_path, 'after')
    output = after.communicate(timeout=600)[0]
    assert after.returncode == 0, output[-3000:]
    assert '2 adopted' in output and '3 files loaded' in output, output[-3000:]
    assert loads_per_file(database) == []
    assert database.rows('select count(*) from raw.user_interaction') == [
        (sum(len(path.read_text().splitlines()) for path in events.iterdir()),)]
    assert database.rows("select count(*) from information_schema.tables where table_schema = 'store' "
                         "and table_name like 'events_%%'") == database.rows(
        "select count(*) from audit.file_loads where status = 'published' and target_table = 'raw.user_interaction'")
