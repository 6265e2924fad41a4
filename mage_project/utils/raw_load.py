"""The raw layer: start a run and stream each CSV file into its raw table with COPY.

Nothing is deduplicated or dropped here. Every line of a file is either a row of its raw table or
a row of ``rejected_rows``, and ``load_audit`` records the counts so they can be checked.
"""
from __future__ import annotations

import tempfile
from typing import Callable

import pandas as pd
from psycopg2 import sql

from mage_project.utils import block_outputs, builds, db
from mage_project.utils.dataset import (
    DDL_FILE,
    Adjustment,
    DatasetError,
    LoadCounts,
    Rejection,
    Table,
    check_input_files,
    copy_escape,
    input_file,
    iter_copy_lines,
    parse_ddl,
)
from mage_project.utils.settings import (
    ConfigurationError,
    analytics_reader_roles,
    build_abandon_seconds,
    check_settings,
    connection_settings,
    current_env,
    dataset_dir,
    max_rejected_share,
    use_project_environment,
)

REJECTED_COLUMNS = ('source_file', 'line_number', 'raw_line', 'reason')
ADJUSTED_COLUMNS = ('source_file', 'line_number', 'column_name', 'raw_value', 'loaded_value', 'reason')
SAMPLE_ROWS = 5


def check_database_encoding(conn) -> None:
    """The pipeline loads UTF-8 text; a database in another encoding (LATIN1, SQL_ASCII) cannot
    hold every value, so the run stops before any work, naming the database and its encoding."""
    with conn.cursor() as cursor:
        cursor.execute('select current_database(), pg_encoding_to_char(encoding) from pg_database '
                       'where datname = current_database()')
        name, encoding = cursor.fetchone()
    if encoding != 'UTF8':
        raise ConfigurationError(
            f'database {name} has encoding {encoding}; the pipeline needs UTF8, since the input files '
            f"are UTF-8 (create it with: create database {name} encoding 'UTF8' template template0)")


def check_reader_roles(conn, settings) -> None:
    """Every role of ANALYTICS_READER_ROLES exists on the server, checked at the start rather than at
    the publish, after the whole run's work."""
    roles = analytics_reader_roles()
    with conn.cursor() as cursor:
        cursor.execute('select name from unnest(%s::text[]) as name where not exists '
                       '(select from pg_roles where rolname = name)', (roles,))
        missing = [name for (name,) in cursor.fetchall()]
    if missing:
        raise ConfigurationError(f'ANALYTICS_READER_ROLES names {", ".join(missing)}, which '
                                 f'{"does" if len(missing) == 1 else "do"} not exist on {settings.describe()}; '
                                 'create the role (create role ... nologin) or remove it from the list')


def create_evidence_tables(cursor, schema_name: str) -> None:
    """A build's rejected_rows, adjusted_values and load_audit: what each file's load kept
    besides its rows (both pipelines, Postgres and Spark, write them)."""
    schema = sql.Identifier(schema_name)
    cursor.execute(sql.SQL(
        'create table {}.rejected_rows (source_file text not null, line_number int not null, '
        'raw_line text not null, reason text not null, primary key (source_file, line_number))'
    ).format(schema))
    cursor.execute(sql.SQL(
        'create table {}.adjusted_values (source_file text not null, line_number int not null, '
        'column_name text not null, raw_value text not null, loaded_value text not null, '
        'reason text not null, primary key (source_file, line_number, column_name))'
    ).format(schema))
    cursor.execute(sql.SQL(
        'create table {}.load_audit (run_id text not null, source_file text primary key, '
        'dataset_dir text not null, target_table text not null, lines_read bigint not null, '
        'rows_loaded bigint not null, rows_rejected bigint not null, values_adjusted bigint not null, '
        'loaded_at timestamptz not null default now())'
    ).format(schema))


def open_build(run_variables: dict | None, dataset: str,
               check_inputs: Callable[[], dict[str, Table]]) -> tuple[builds.Build, dict[str, Table]]:
    """Check the settings, the input files (``check_inputs``, which returns the DDL's tables) and
    the database, then register a new build (build_<run id>). ``run_id`` may come from the run's
    variables (make run passes one, to print this run's answers); otherwise one is made. Raises
    before any database work if a setting or an input is unusable."""
    run_variables = run_variables or {}
    use_project_environment()
    check_settings(run_variables)
    run_id = builds.checked_run_id(run_variables.get('run_id'))
    settings = connection_settings(current_env())
    tables = check_inputs()
    with db.transaction(settings) as conn:
        check_database_encoding(conn)
        check_reader_roles(conn, settings)
    block_outputs.claim(run_variables)
    mage_run = ({key: run_variables.get(key) for key in ('pipeline_run_id', 'pipeline_uuid', 'execution_partition')}
                if run_variables.get('pipeline_run_id') else None)
    if mage_run:
        mage_run['id'] = mage_run.pop('pipeline_run_id')
    return builds.begin(run_id, dataset, settings, build_abandon_seconds(), mage_run), tables


def start_run(run_variables: dict | None = None) -> builds.Build:
    """Start a run of the Postgres pipeline: open_build, then the build's raw tables and evidence
    tables."""
    folder = dataset_dir()
    build, tables = open_build(run_variables, str(folder), lambda: check_input_files(folder))
    with db.transaction() as conn, conn.cursor() as cursor:
        for table in tables.values():
            cursor.execute(sql.SQL('create table {}.{} ({})').format(
                sql.Identifier(build.schema), sql.Identifier(table.name), sql.SQL(table.ddl())))
        create_evidence_tables(cursor, build.schema)
    return build


def copy_row(*values) -> str:
    """A COPY text line of values; a NUL (which Postgres text cannot hold) is shown as \\x00."""
    return '\t'.join(copy_escape(str(v).replace('\x00', '\\x00')) for v in values) + '\n'


def record_load(cursor, build: builds.Build, source_file: str, dataset: str, name: str, counts: LoadCounts) -> None:
    """The load_audit row of one file (both pipelines' loaders write it)."""
    cursor.execute(
        sql.SQL('insert into {}.load_audit (run_id, source_file, dataset_dir, target_table, '
                'lines_read, rows_loaded, rows_rejected, values_adjusted) '
                'values (%s, %s, %s, %s, %s, %s, %s, %s)').format(sql.Identifier(build.schema)),
        (build.run_id, source_file, dataset, f'raw.{name}', counts.lines_read, counts.rows_loaded,
         counts.rows_rejected, counts.values_adjusted))


def check_loadable(path, counts: LoadCounts, max_share: float) -> None:
    """Refuse to publish a file that yields no row, or whose rejected share is over ``max_share``:
    the message names the file, the counts and the most common reasons."""
    share = counts.rows_rejected / counts.lines_read if counts.lines_read else 1.0
    where = (f'{path}: {counts.lines_read} lines read, {counts.rows_loaded} loaded, '
             f'{counts.rows_rejected} rejected')
    reasons = f' (most common reasons: {counts.top_reasons()})' if counts.reasons else ''
    if counts.rows_loaded == 0:
        raise DatasetError(f'{where}{reasons}: no loadable row; refusing to publish, the previous tables stay')
    if share > max_share:
        raise DatasetError(
            f'{where}{reasons}: {share:.1%} rejected is over the limit of {max_share:.1%} '
            '(MAX_REJECTED_SHARE, or the pipeline variable max_rejected_share); refusing to publish, '
            'the previous tables stay. The rejected lines are in this run\'s build schema, '
            f'{builds.current().schema}.rejected_rows.')


def file_state(path) -> tuple[int, int, int]:
    """What changes when a file is written to or replaced: its size, modification time and inode."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def load_raw_table(name: str, run_variables: dict | None = None) -> pd.DataFrame:
    """Stream ``<DATASET_DIR>/<name>.csv`` (or .csv.gz) into <build>.<name>; rejected lines into
    <build>.rejected_rows, values loaded differently from their spelling into
    <build>.adjusted_values. Returns one row: file, table and the line counts. Raises, after
    committing the evidence to the build schema, when the file is not fit to publish."""
    settings = connection_settings(current_env())
    folder = dataset_dir()
    table = parse_ddl(folder / DDL_FILE)[name]
    path = input_file(folder, name)
    max_share = max_rejected_share((run_variables or {}).get('max_rejected_share'))
    build = builds.ensure_owned(settings)
    raw = build.schema
    counts = LoadCounts()
    before = file_state(path)
    with tempfile.TemporaryFile('w+', encoding='utf-8') as rejected, \
            tempfile.TemporaryFile('w+', encoding='utf-8') as adjusted, \
            db.transaction(settings) as conn:
        def spooled(spool, text: str) -> None:
            try:
                spool.write(text)
            except OSError as error:  # the rejected lines are kept aside until the rows are in
                raise DatasetError(f'{path}: no room to keep its rejected lines and adjusted values aside in '
                                   f'{tempfile.gettempdir()} (TMPDIR): {error.strerror or error}; nothing of it '
                                   'is loaded') from error

        def reject(rejection: Rejection) -> None:
            spooled(rejected, copy_row(path.name, rejection.line_number, rejection.raw_text, rejection.reason))

        def adjust(note: Adjustment) -> None:
            spooled(adjusted, copy_row(path.name, note.line_number, note.column, note.raw_value,
                                       note.loaded_value, note.reason))

        db.copy_lines(conn, raw, name, table.column_names,
                      iter_copy_lines(path, table, counts, reject, adjust))
        if file_state(path) != before:  # written to while it was read: what was read may be half a line
            raise DatasetError(f'{path}: changed while it was read (size and modification time differ from '
                               'when the load began); nothing of it is loaded: run again once it is complete')
        for spool, target, columns in ((rejected, 'rejected_rows', REJECTED_COLUMNS),
                                       (adjusted, 'adjusted_values', ADJUSTED_COLUMNS)):
            spool.seek(0)
            db.copy_lines(conn, raw, target, columns, spool)
        with conn.cursor() as cursor:
            record_load(cursor, build, path.name, str(folder), name, counts)
            if not counts.balanced:
                raise RuntimeError(f'{path}: {counts} does not balance; nothing committed')
            # Fresh statistics, so the staging queries join and sort with the right plans.
            cursor.execute(sql.SQL('analyze {}.{}').format(sql.Identifier(raw), sql.Identifier(name)))
    check_loadable(path, counts, max_share)
    return pd.DataFrame([{
        'source_file': path.name, 'target_table': f'raw.{name}', 'lines_read': counts.lines_read,
        'rows_loaded': counts.rows_loaded, 'rows_rejected': counts.rows_rejected,
        'values_adjusted': counts.values_adjusted,
    }])


def sample_rows(name: str, limit: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first rows of this run's raw table <name>, for block previews and logs."""
    with db.transaction() as conn:
        return db.fetch_frame(conn, sql.SQL('select * from {}.{} limit %s').format(
            sql.Identifier(builds.current().schema), sql.Identifier(name)), (limit,))


def stored_counts(source_file: str, name: str) -> dict[str, int]:
    """What the database holds for one file: rows in its raw table, its rejected rows, and the
    audit row's counts."""
    with db.transaction() as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL(
            'select (select count(*) from {raw}.{table}), '
            '(select count(*) from {raw}.rejected_rows where source_file = %s), '
            'a.lines_read, a.rows_loaded, a.rows_rejected from {raw}.load_audit a where a.source_file = %s'
        ).format(raw=sql.Identifier(builds.current().schema), table=sql.Identifier(name)), (source_file, source_file))
        row = cursor.fetchone()
    keys = ('table_rows', 'rejected_rows', 'lines_read', 'rows_loaded', 'rows_rejected')
    return dict(zip(keys, row)) if row else {}


def check_load_report(report: pd.DataFrame, sample: pd.DataFrame) -> None:
    """The test of every loader block, on either pipeline: every line read is loaded or rejected,
    and the sample shows the first loaded rows. Raises AssertionError saying what broke."""
    row = report.iloc[0]
    assert row.lines_read == row.rows_loaded + row.rows_rejected, (
        f'{row.source_file}: {row.lines_read} lines read, but {row.rows_loaded} loaded '
        f'+ {row.rows_rejected} rejected')
    assert len(sample) == min(SAMPLE_ROWS, int(row.rows_loaded)), 'the sample should show the first loaded rows'


def check_load_balanced(report: pd.DataFrame, name: str) -> None:
    """The data contract of a raw load in Postgres: the database holds exactly what the loader
    reported (the raw table, rejected_rows, load_audit). Raises AssertionError saying what broke."""
    row = report.iloc[0]
    stored = stored_counts(row.source_file, name)
    assert stored.get('table_rows') == row.rows_loaded, (
        f'raw.{name} holds {stored.get("table_rows")} rows; the loader reported {row.rows_loaded}')
    assert stored.get('rejected_rows') == row.rows_rejected, (
        f'rejected_rows holds {stored.get("rejected_rows")} rows for {row.source_file}; '
        f'the loader reported {row.rows_rejected}')
    audit = tuple(stored.get(key) for key in ('lines_read', 'rows_loaded', 'rows_rejected'))
    assert audit == (row.lines_read, row.rows_loaded, row.rows_rejected), (
        f'load_audit records {audit} (read, loaded, rejected) for {row.source_file}; the loader reported '
        f'{(row.lines_read, row.rows_loaded, row.rows_rejected)}')
