"""The raw layer: start a run and stream each CSV file into its raw table with COPY.

Nothing is deduplicated or dropped here. Every line of a file is either a row of its raw table or
a row of ``rejected_rows``, and ``load_audit`` records the counts so they can be checked.
"""
from __future__ import annotations

import tempfile

import pandas as pd
from psycopg2 import sql

from mage_project.utils import db
from mage_project.utils.dataset import (
    CSV_FILES,
    DDL_FILE,
    LoadCounts,
    Rejection,
    check_input_files,
    copy_escape,
    iter_copy_lines,
    parse_ddl,
)
from mage_project.utils.settings import (
    connection_settings,
    current_env,
    dataset_dir,
    run_lock_wait_seconds,
)

RAW = db.build_schema('raw')
REJECTED_COLUMNS = ('source_file', 'line_number', 'raw_line', 'reason')
SAMPLE_ROWS = 5


def start_run() -> None:
    """Check the environment and every input file, take the run lock and create empty build
    schemas with the raw tables. Raises before any database work if an input is unusable."""
    settings = connection_settings(current_env())
    folder = dataset_dir()
    tables = check_input_files(folder)
    db.acquire_run_lock(run_lock_wait_seconds(), settings)
    with db.transaction(settings) as conn:
        db.reset_build_schemas(conn)
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        for table in tables.values():
            cursor.execute(sql.SQL('create table {}.{} ({})').format(
                sql.Identifier(RAW), sql.Identifier(table.name), sql.SQL(table.ddl())))
        cursor.execute(sql.SQL(
            'create table {}.rejected_rows (source_file text not null, line_number int not null, '
            'raw_line text not null, reason text not null, primary key (source_file, line_number))'
        ).format(sql.Identifier(RAW)))
        cursor.execute(sql.SQL(
            'create table {}.load_audit (source_file text primary key, dataset_dir text not null, '
            'target_table text not null, lines_read bigint not null, rows_loaded bigint not null, '
            'rows_rejected bigint not null, loaded_at timestamptz not null default now())'
        ).format(sql.Identifier(RAW)))


def _copy_text(*values) -> str:
    """A COPY text line of values; a NUL (which Postgres text cannot hold) is shown as \\x00."""
    return '\t'.join(copy_escape(str(v).replace('\x00', '\\x00')) for v in values) + '\n'


def load_raw_table(name: str) -> pd.DataFrame:
    """Stream ``<DATASET_DIR>/<name>.csv`` into raw_build.<name>; rejected lines into
    raw_build.rejected_rows. Returns one row: file, table and the line counts."""
    settings = connection_settings(current_env())
    folder = dataset_dir()
    table = parse_ddl(folder / DDL_FILE)[name]
    path = folder / CSV_FILES[name]
    db.acquire_run_lock(run_lock_wait_seconds(), settings)
    counts = LoadCounts()
    with tempfile.TemporaryFile('w+', encoding='utf-8') as spool, \
            db.transaction(settings) as conn:
        def reject(rejection: Rejection) -> None:
            spool.write(_copy_text(path.name, rejection.line_number, rejection.raw_text, rejection.reason))

        db.copy_lines(conn, RAW, name, table.column_names, iter_copy_lines(path, table, counts, reject))
        spool.seek(0)
        db.copy_lines(conn, RAW, 'rejected_rows', REJECTED_COLUMNS, spool)
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL('insert into {}.load_audit (source_file, dataset_dir, target_table, '
                        'lines_read, rows_loaded, rows_rejected) values (%s, %s, %s, %s, %s, %s)'
                        ).format(sql.Identifier(RAW)),
                (path.name, str(folder), f'raw.{name}', counts.lines_read, counts.rows_loaded,
                 counts.rows_rejected),
            )
            if not counts.balanced:
                raise RuntimeError(f'{path}: {counts} does not balance; nothing committed')
            # Fresh statistics, so the staging queries join and sort with the right plans.
            cursor.execute(sql.SQL('analyze {}.{}').format(sql.Identifier(RAW), sql.Identifier(name)))
    return pd.DataFrame([{
        'source_file': path.name, 'target_table': f'raw.{name}', 'lines_read': counts.lines_read,
        'rows_loaded': counts.rows_loaded, 'rows_rejected': counts.rows_rejected,
    }])


def sample_rows(name: str, limit: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first rows of raw_build.<name>, for block previews and logs."""
    with db.transaction() as conn:
        return db.fetch_frame(conn, sql.SQL('select * from {}.{} limit %s').format(
            sql.Identifier(RAW), sql.Identifier(name)), (limit,))


def stored_counts(source_file: str, name: str) -> dict[str, int]:
    """What the database holds for one file: rows in its raw table, its rejected rows, and the
    audit row's counts."""
    with db.transaction() as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL(
            'select (select count(*) from {raw}.{table}), '
            '(select count(*) from {raw}.rejected_rows where source_file = %s), '
            'a.lines_read, a.rows_loaded, a.rows_rejected from {raw}.load_audit a where a.source_file = %s'
        ).format(raw=sql.Identifier(RAW), table=sql.Identifier(name)), (source_file, source_file))
        row = cursor.fetchone()
    keys = ('table_rows', 'rejected_rows', 'lines_read', 'rows_loaded', 'rows_rejected')
    return dict(zip(keys, row)) if row else {}


def check_load_balanced(report: pd.DataFrame, name: str) -> None:
    """The data contract of a raw load: every line read is loaded or rejected, and the database
    holds exactly what the loader reported. Raises AssertionError saying what broke."""
    row = report.iloc[0]
    stored = stored_counts(row.source_file, name)
    assert row.lines_read == row.rows_loaded + row.rows_rejected, (
        f'{row.source_file}: {row.lines_read} lines read, but {row.rows_loaded} loaded '
        f'+ {row.rows_rejected} rejected')
    assert stored.get('table_rows') == row.rows_loaded, (
        f'raw.{name} holds {stored.get("table_rows")} rows; the loader reported {row.rows_loaded}')
    assert stored.get('rejected_rows') == row.rows_rejected, (
        f'rejected_rows holds {stored.get("rejected_rows")} rows for {row.source_file}; '
        f'the loader reported {row.rows_rejected}')
    audit = tuple(stored.get(key) for key in ('lines_read', 'rows_loaded', 'rows_rejected'))
    assert audit == (row.lines_read, row.rows_loaded, row.rows_rejected), (
        f'load_audit records {audit} (read, loaded, rejected) for {row.source_file}; the loader reported '
        f'{(row.lines_read, row.rows_loaded, row.rows_rejected)}')
