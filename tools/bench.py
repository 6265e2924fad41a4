"""make bench EVENTS=N: the whole pipeline against three other ways of doing the same work.

    python -m tools.bench --events 2000000

On the same generated files (cached in .cache/bench/) and the same Postgres server, each in a
fresh database:

- pipeline: `make run`'s program (python -m tools.run), which runs the pipeline as Mage runs a
  triggered run;
- floor: psql \\copy of both files into the typed tables, then the pipeline's own SQL blocks as
  CREATE TABLE AS, in one psql session: the least work that gives the same tables;
- minimal: the same \\copy, then the four questions as plain aggregate queries (no staging
  tables): the least work that answers the questions at all;
- to_sql: pandas read_csv + DataFrame.to_sql (what many take-home solutions do), then the same SQL;
  slow, so it runs on the first --tosql-events lines and its rate is compared per row;
- with --engine spark (make bench ENGINE=spark): `make run-spark`'s program once per
  --spark-masters entry (local[1] and local[2] by default), its peak RSS summed over the
  process tree (the driver's Python and JVM, where local mode also runs the executors).

One line per way (seconds, rows per second, peak RSS of the client process), then
`ratio_vs_minimal_floor=…` and `ratio_vs_floor=… peak_rss_mb=…`.

With --files N (make bench EVENTS=4100000 FILES=41), the incremental case instead: the events as N
files, the first N-1 loaded (history), then timed: the run that finds the last file new, a full
refresh of all N, and the last file alone into an empty database; then
`incremental_vs_one_file=… incremental_vs_full_refresh=… peak_rss_mb=…`.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from mage_project.builds.state import base_columns
from mage_project.catalog import PROJECT_DIR, RAW_TABLES
from mage_project.core.settings import use_project_environment
from mage_project.ingest.ddl import parse_ddl
from mage_project.models.sql import build_statements
from tools import local_pg
from tools.datagen.generate import Plan, generate
from tools.datagen.layout import split_events

REPO = PROJECT_DIR.parent

SCHEMA = 'build_bench'  # the floor's one build schema, as a run's
TIME = '/usr/bin/time'


def server_env() -> dict[str, str]:
    if os.getenv('POSTGRES_HOST'):
        return {k: os.environ[k] for k in ('POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_USER', 'POSTGRES_PASSWORD')
                if k in os.environ}
    return local_pg.start()


def fresh_database(env: dict[str, str], name: str) -> dict[str, str]:
    conn = psycopg2.connect(host=env['POSTGRES_HOST'], port=env.get('POSTGRES_PORT', '5432'),
                            user=env['POSTGRES_USER'], password=env.get('POSTGRES_PASSWORD', ''), dbname='postgres')
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'drop database if exists {name} with (force)')
        cursor.execute(f'create database {name}')
    conn.close()
    return dict(env, POSTGRES_DB=name)


def timed(command: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of a command, RSS from /usr/bin/time -v where present."""
    use_time = Path(TIME).exists()
    full = [TIME, '-v', *command] if use_time else command
    start = time.monotonic()
    result = subprocess.run(full, env=env, input=stdin, capture_output=True, text=True, cwd=REPO)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f'{command[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    match = re.search(r'Maximum resident set size \(kbytes\): (\d+)', result.stderr)
    # Without /usr/bin/time: the largest child so far, an upper bound for this one.
    kilobytes = int(match[1]) if match else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, kilobytes / 1024, result.stdout


def timed_tree(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB summed over the process and its descendants, sampled every 0.1 s)."""
    import psutil

    start = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=REPO)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    output = process.stdout.read()
    seconds = time.monotonic() - start
    if process.returncode != 0:
        raise SystemExit(f'{command[0]} failed:\n{output[-3000:]}')
    return seconds, peak / 2**20


def analytics_sql() -> str:
    """The pipeline's SQL blocks, in pipeline order, as CREATE TABLE AS statements in one build schema
    (first on the search_path, as in a run)."""
    return f'set search_path = {SCHEMA}, pg_catalog;\n' + '\n'.join(
        f'create table {SCHEMA}.{block.table} as\n{query};' for block, query in build_statements())


def raw_tables_sql(data: Path) -> str:
    """The build schema, the raw tables as the dataset's tables.sql defines them (one load, id 1),
    and the inputs of a run that starts from nothing (state.prepare_inputs): its load added, no
    published state."""
    tables = parse_ddl(data / 'tables.sql')
    return (f'create schema {SCHEMA};\n'
            + ''.join(f'create table {SCHEMA}.{t.name} ({t.ddl()}, load_id bigint not null default 1);\n'
                      for t in tables.values())
            + inputs_sql(data))


def inputs_sql(data: Path) -> str:
    """The inputs of the SQL blocks for a run that starts from nothing, its one load added."""
    tables = parse_ddl(data / 'tables.sql')
    return (f'create table {SCHEMA}.load_changes as select 1::bigint as load_id, 1 as change;\n'
            + f'create table {SCHEMA}.run_inputs as select true as users_changed, false as has_base;\n'
            + ''.join(f'create table {SCHEMA}.{name} ({columns});\n' for name, columns in base_columns(tables).items()))


def psql_binary() -> str:
    found = shutil.which('psql')
    if found:
        return found
    import pgserver
    return str(Path(pgserver.__file__).parent / 'pginstall' / 'bin' / 'psql')


# The minimal floor: the four questions as plain aggregate queries on the raw tables, no staging
# tables, no ranks or flags. Not the pipeline's definitions in every detail (no conflict or label
# handling): only a measure of the least work that answers the questions at all.
MINIMAL_QUESTIONS = f"""
select e.event_type, count(*) filter (where u.user_id is null) from {SCHEMA}.user_interaction as e
left join (select distinct user_id from {SCHEMA}.users) as u on u.user_id = e.user_id group by e.event_type;
select event_date, sum(copies - 1) from (
    select event_time::date as event_date, count(*) as copies from {SCHEMA}.user_interaction
    group by event_id, user_id, event_type, event_time) as rows_ group by event_date;
select u.country, count(*) from {SCHEMA}.users as u
where exists (select from {SCHEMA}.user_interaction as e where e.user_id = u.user_id) group by u.country;
with d as (select user_id, event_type from {SCHEMA}.user_interaction group by event_id, user_id, event_type, event_time),
p as (select user_id from d group by user_id having count(*) filter (where event_type = 'VIEW') >= 5
      and count(*) filter (where event_type = 'CLICK') >= 10)
select u.age, count(*) from {SCHEMA}.users as u join p on p.user_id = u.user_id group by u.age;
"""


def floor(env: dict[str, str], data: Path, questions: str | None = None) -> tuple[float, float]:
    """psql \\copy of both files into the typed tables, then the pipeline's SQL blocks (or, for the
    minimal floor, ``questions``), in one psql session."""
    copy = ("\\copy " + SCHEMA + ".{table} ({columns}) from program 'sed \"s/, /,/g\" {path}' "
            "with (format csv, quote '''')\n")
    script = (raw_tables_sql(data)
              + copy.format(table='users', columns=', '.join(RAW_TABLES['users']), path=data / 'users.csv')
              + copy.format(table='user_interaction', columns=', '.join(RAW_TABLES['user_interaction']),
                            path=data / 'user_interaction.csv')
              + (questions if questions is not None else analytics_sql()))
    command = [psql_binary(), '-v', 'ON_ERROR_STOP=1', '-q', '-h', env['POSTGRES_HOST'], '-p',
               env.get('POSTGRES_PORT', '5432'), '-U', env['POSTGRES_USER'], '-d', env['POSTGRES_DB']]
    seconds, rss, _ = timed(command, dict(os.environ, PGPASSWORD=env.get('POSTGRES_PASSWORD', '')), stdin=script)
    return seconds, rss


TO_SQL = '''
import sys, pandas as pd, sqlalchemy
url, data, limit, analytics = sys.argv[1], sys.argv[2], int(sys.argv[3]), open(sys.argv[4]).read()
engine = sqlalchemy.create_engine(url)
options = dict(header=None, quotechar="'", skipinitialspace=True)
users = pd.read_csv(f'{data}/users.csv', names=['user_id', 'age', 'country'], **options)
events = pd.read_csv(f'{data}/user_interaction.csv', names=['event_id', 'user_id', 'event_type', 'event_time'],
                     nrows=limit, parse_dates=['event_time'], **options)
with engine.begin() as conn:
    conn.exec_driver_sql('create schema build_bench')
users.to_sql('users', engine, schema='build_bench', index=False)
events.to_sql('user_interaction', engine, schema='build_bench', index=False)
raw = engine.raw_connection()
with raw.cursor() as cursor:
    cursor.execute(analytics)
raw.commit()
'''


def to_sql(env: dict[str, str], data: Path, events: int) -> tuple[float, float]:
    from urllib.parse import quote
    host = env['POSTGRES_HOST']
    url = (f"postgresql+psycopg2://{quote(env['POSTGRES_USER'])}:{quote(env.get('POSTGRES_PASSWORD', ''))}@/"
           f"{env['POSTGRES_DB']}?host={quote(host)}&port={env.get('POSTGRES_PORT', '5432')}")
    sql_file = data.parent / 'analytics.sql'
    sql_file.write_text(''.join(f'alter table {SCHEMA}.{name} add column load_id bigint not null default 1;\n'
                                for name in RAW_TABLES) + inputs_sql(data) + analytics_sql())
    seconds, rss, _ = timed([sys.executable, '-c', TO_SQL, url, str(data), str(events), str(sql_file)], dict(os.environ))
    return seconds, rss


def line(name: str, events: int, seconds: float, rss: float, note: str = '') -> str:
    return (f'{name:<9} events={events:<9} seconds={seconds:8.2f} rows_per_s={events / seconds:11.0f} '
            f'peak_rss_mb={rss:7.1f}{note}')


def incremental_case(args, env: dict[str, str], users: int) -> None:
    """--files N: the events as N files of equal size; the first N-1 are the history, loaded by a
    run that is not timed; then, timed: the run that finds the last file new (incremental), a full
    refresh of all N files, and the last file alone into an empty database (one_file)."""
    data = args.cache / f'e{args.events}-u{users}-s{args.seed}-f{args.files}'
    if not (data / 'truths.json').exists():
        started = time.monotonic()
        generate(data, Plan(users=users, events=args.events, seed=args.seed))
        split_events(data, files=args.files)
        print(f'generated {args.events} events as {args.files} files in {time.monotonic() - started:.1f}s into {data}',
              flush=True)
    files = sorted((data / 'user_interaction').iterdir())
    per_file = sum(1 for _ in files[-1].open('rb'))
    history, alone = args.cache / 'history', args.cache / 'one_file'
    for folder, wanted in ((history, files[:-1]), (alone, files[-1:])):
        shutil.rmtree(folder, ignore_errors=True)
        (folder / 'user_interaction').mkdir(parents=True)
        for name in ('tables.sql', 'users.csv'):
            os.link(data / name, folder / name)
        for path in wanted:
            os.link(path, folder / 'user_interaction' / path.name)
    common = dict(os.environ, ENV='dev', MAGE_DATA_DIR=str(args.cache / 'mage_data'),
                  REPORT_DIR=str(args.cache / 'report'))
    database = fresh_database(env, 'bench_incremental')
    run_env = dict(common, **database, DATASET_DIR=str(history))
    h_seconds, h_rss, _ = timed([sys.executable, '-m', 'tools.run'], run_env)
    print(line('history', per_file * (args.files - 1), h_seconds, h_rss, f'  ({args.files - 1} files, not compared)'),
          flush=True)
    os.link(files[-1], history / 'user_interaction' / files[-1].name)
    i_seconds, i_rss, _ = timed([sys.executable, '-m', 'tools.run'], run_env)
    print(line('incremental', per_file, i_seconds, i_rss, '  (1 new file)'), flush=True)
    r_seconds, r_rss, _ = timed([sys.executable, '-m', 'tools.run', '--full-refresh'], run_env)
    print(line('full_refresh', per_file * args.files, r_seconds, r_rss, f'  ({args.files} files)'), flush=True)
    o_seconds, o_rss, _ = timed([sys.executable, '-m', 'tools.run'],
                                dict(common, **fresh_database(env, 'bench_one_file'), DATASET_DIR=str(alone)))
    print(line('one_file', per_file, o_seconds, o_rss, '  (the new file alone, into an empty database)'), flush=True)
    print(f'incremental_vs_one_file={i_seconds / o_seconds:.2f} incremental_vs_full_refresh={i_seconds / r_seconds:.3f} '
          f'peak_rss_mb={max(h_rss, i_rss, r_rss, o_rss):.0f}')


def main() -> None:
    use_project_environment()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--events', type=int, default=2_000_000)
    parser.add_argument('--users', type=int, help='default: events / 20')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--tosql-events', type=int, default=200_000)
    parser.add_argument('--skip-tosql', action='store_true')
    parser.add_argument('--engine', choices=('postgres', 'spark'), default='postgres',
                        help='spark: also run the Spark pipeline (needs make spark)')
    parser.add_argument('--spark-masters', default='local[1],local[2]', help='comma-separated SPARK_MASTER values')
    parser.add_argument('--cache', type=Path, default=REPO / '.cache' / 'bench', help='where generated data is kept')
    parser.add_argument('--files', type=int, help='the incremental case: the events as this many files, the last new')
    args = parser.parse_args()
    users = args.users or max(args.events // 20, 100)
    if args.files:
        incremental_case(args, server_env(), users)
        return

    data = args.cache / f'e{args.events}-u{users}-s{args.seed}'
    if not (data / 'truths.json').exists():
        started = time.monotonic()
        generate(data, Plan(users=users, events=args.events, seed=args.seed))
        print(f'generated {args.events} events in {time.monotonic() - started:.1f}s into {data}', flush=True)
    total = sum(1 for _ in (data / 'user_interaction.csv').open('rb'))
    env = server_env()

    pipeline_env = dict(os.environ, **fresh_database(env, 'bench_pipeline'), ENV='dev', DATASET_DIR=str(data),
                        MAGE_DATA_DIR=str(args.cache / 'mage_data'), REPORT_DIR=str(args.cache / 'report'))
    p_seconds, p_rss, _ = timed([sys.executable, '-m', 'tools.run'], pipeline_env)
    print(line('pipeline', total, p_seconds, p_rss), flush=True)

    f_seconds, f_rss = floor(fresh_database(env, 'bench_floor'), data)
    print(line('floor', total, f_seconds, f_rss), flush=True)
    m_seconds, m_rss = floor(fresh_database(env, 'bench_minimal'), data, MINIMAL_QUESTIONS)
    print(line('minimal', total, m_seconds, m_rss, '  (copy + four plain aggregate queries)'), flush=True)

    if not args.skip_tosql:
        n = min(args.tosql_events, total)
        t_seconds, t_rss = to_sql(fresh_database(env, 'bench_tosql'), data, n)
        note = f'  (first {n} events only)' if n < total else ''
        print(line('to_sql', n, t_seconds, t_rss, note), flush=True)
        speedup = (total / p_seconds) / (n / t_seconds)
        print(f'speedup_vs_to_sql_per_row={speedup:.1f}')
    if args.engine == 'spark':
        for master in args.spark_masters.split(','):
            spark_env = dict(pipeline_env, **fresh_database(env, 'bench_spark'), SPARK_MASTER=master,
                             SPARK_DRIVER_MEMORY=os.getenv('SPARK_DRIVER_MEMORY', '4g'))
            s_seconds, s_rss = timed_tree([sys.executable, '-m', 'tools.run', '--pipeline', 'event_analytics_spark'],
                                           spark_env)
            print(line(f'spark {master}', total, s_seconds, s_rss,
                       f'  ({s_seconds / p_seconds:.2f}x the Postgres pipeline, RSS of the process tree)'), flush=True)
    print(f'ratio_vs_minimal_floor={p_seconds / m_seconds:.2f}')
    print(f'ratio_vs_floor={p_seconds / f_seconds:.2f} peak_rss_mb={p_rss:.0f}')


if __name__ == '__main__':
    main()
