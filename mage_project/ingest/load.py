"""The Postgres pipeline's raw layer: stream each CSV file into its raw table with COPY.

Nothing is deduplicated or dropped here. Every line of a file is either a row of its raw table or
a row of ``rejected_rows``, and ``load_audit`` records the counts so they can be checked. The
loader works in the build schema it is given (the block passes its run's).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from psycopg2 import sql

from mage_project.core import db
from mage_project.core.settings import connection_settings, current_env, dataset_dir, max_rejected_share
from mage_project.ingest.dialect import Adjustment, DatasetError, LoadCounts, Rejection, iter_copy_lines
from mage_project.ingest.evidence import ADJUSTED_COLUMNS, REJECTED_COLUMNS, check_loadable, copy_row, record_load
from mage_project.ingest.files import LocalFiles, input_file, read_ddl

SAMPLE_ROWS = 5


def file_state(path) -> tuple[int, int, int]:
    """What changes when a file is written to or replaced: its size, modification time and inode."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def load_raw_table(schema: str, run_id: str, name: str, run_variables: dict | None = None) -> pd.DataFrame:
    """Stream ``<DATASET_DIR>/<name>.csv`` (or .csv.gz) into <schema>.<name>; rejected lines into
    <schema>.rejected_rows, values loaded differently from their spelling into
    <schema>.adjusted_values (``schema``: the build of run ``run_id``). Returns one row: file, table and the line counts. Raises, after
    committing the evidence to the build schema, when the file is not fit to publish."""
    settings = connection_settings(current_env())
    folder = dataset_dir()
    table = read_ddl(LocalFiles(), str(folder))[name]
    path = Path(input_file(LocalFiles(), str(folder), name))
    max_share = max_rejected_share((run_variables or {}).get('max_rejected_share'))
    raw = schema
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
            record_load(cursor, schema, run_id, path.name, str(folder), name, counts)
            if not counts.balanced:
                raise RuntimeError(f'{path}: {counts} does not balance; nothing committed')
            # Fresh statistics, so the staging queries join and sort with the right plans.
            cursor.execute(sql.SQL('analyze {}.{}').format(sql.Identifier(raw), sql.Identifier(name)))
    check_loadable(path, counts, max_share, schema)
    return pd.DataFrame([{
        'source_file': path.name, 'target_table': f'raw.{name}', 'lines_read': counts.lines_read,
        'rows_loaded': counts.rows_loaded, 'rows_rejected': counts.rows_rejected,
        'values_adjusted': counts.values_adjusted,
    }])


def sample_rows(schema: str, name: str, limit: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first rows of the raw table <schema>.<name>, for block previews and logs."""
    with db.transaction() as conn:
        return db.fetch_frame(conn, sql.SQL('select * from {}.{} limit %s').format(
            sql.Identifier(schema), sql.Identifier(name)), (limit,))


def stored_counts(schema: str, source_file: str, name: str) -> dict[str, int]:
    """What the database holds for one file: rows in its raw table, its rejected rows, and the
    audit row's counts."""
    with db.transaction() as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL(
            'select (select count(*) from {raw}.{table}), '
            '(select count(*) from {raw}.rejected_rows where source_file = %s), '
            'a.lines_read, a.rows_loaded, a.rows_rejected from {raw}.load_audit a where a.source_file = %s'
        ).format(raw=sql.Identifier(schema), table=sql.Identifier(name)), (source_file, source_file))
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


def check_load_balanced(report: pd.DataFrame, schema: str, name: str) -> None:
    """The data contract of a raw load in Postgres: the database holds exactly what the loader
    reported (the raw table, rejected_rows, load_audit). Raises AssertionError saying what broke."""
    row = report.iloc[0]
    stored = stored_counts(schema, row.source_file, name)
    assert stored.get('table_rows') == row.rows_loaded, (
        f'raw.{name} holds {stored.get("table_rows")} rows; the loader reported {row.rows_loaded}')
    assert stored.get('rejected_rows') == row.rows_rejected, (
        f'rejected_rows holds {stored.get("rejected_rows")} rows for {row.source_file}; '
        f'the loader reported {row.rows_rejected}')
    audit = tuple(stored.get(key) for key in ('lines_read', 'rows_loaded', 'rows_rejected'))
    assert audit == (row.lines_read, row.rows_loaded, row.rows_rejected), (
        f'load_audit records {audit} (read, loaded, rejected) for {row.source_file}; the loader reported '
        f'{(row.lines_read, row.rows_loaded, row.rows_rejected)}')
