"""The Postgres pipeline's raw layer: stream each input file into a table of its own in store with
COPY, one transaction per file, and record it in the manifest (audit.file_loads).

Nothing is deduplicated or dropped here. Every line of a file is either a row of its table or a
row of store.rejected_rows, and the manifest records the counts so they can be checked. A file's
load is all or nothing: a run killed in the middle of a file leaves nothing of it, and the files it
had loaded stay, for the next run to publish (manifest.decide: adopt). Two runs never load the same
file at once: the load holds a lock named after the file, and a run that waited for it publishes
the other's load when it is of the same content.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from psycopg2 import sql

from mage_project.catalog import AUDIT, STORE
from mage_project.core import db
from mage_project.core.settings import connection_settings, current_env
from mage_project.ingest.dialect import Adjustment, DatasetError, LoadCounts, Rejection, Table, iter_copy_lines
from mage_project.ingest.evidence import ADJUSTED_COLUMNS, REJECTED_COLUMNS, copy_row, refusal
from mage_project.ingest.manifest import PUBLISHES, FileState, Planned

SAMPLE_ROWS = 5
# pg_advisory_xact_lock(FILE_LOCK_CLASS, hashtext(path)): the lock of one file's load.
FILE_LOCK_CLASS = 0x6D61


@dataclass(frozen=True)
class FileLoad:
    """What a load did: its manifest row (``load_id``), its counts, and whether this run read the
    file (False: it took another run's load of the same content)."""
    planned: Planned
    load_id: int
    counts: LoadCounts
    read: bool = True
    note: str = ''


def _changed(location: str, planned: Planned) -> DatasetError:
    return DatasetError(f'{location}: changed while it was read (size and modification time differ from when '
                        'the run began reading it); nothing of it is loaded: run again once it is complete')


def _concurrent_load(cursor, planned: Planned, high_water: int):
    """A load of the same file and content that another run made after this run planned."""
    cursor.execute(sql.SQL(
        "select load_id, run_id, lines_read, rows_loaded, rows_rejected, values_adjusted from {}.file_loads "
        "where source_file = %s and sha256 = %s and status in ('loaded', 'published') and load_id > %s "
        'order by load_id desc limit 1').format(sql.Identifier(AUDIT)),
        (planned.file.relative, planned.sha256, high_water))
    return cursor.fetchone()


def load_file(planned: Planned, table: Table, run_id: str, dataset: str, max_share: float,
              high_water: int) -> FileLoad:
    """Load one input file into store.<events|users>_<load id> and its evidence, and record it in
    the manifest as loaded, in one transaction. Raises DatasetError naming the file when it changed
    since it was planned or while it was read; a file unfit to publish (no loadable row, too many
    rejected) is recorded as refused, its evidence kept, and raises too."""
    settings = connection_settings(current_env())
    location = planned.file.location
    prefix = 'users' if table.name == 'users' else 'events'
    counts = LoadCounts()
    with tempfile.TemporaryFile('w+', encoding='utf-8') as rejected, \
            tempfile.TemporaryFile('w+', encoding='utf-8') as adjusted, \
            db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.execute('select pg_advisory_xact_lock(%s, hashtext(%s))', (FILE_LOCK_CLASS, planned.file.relative))
        other = _concurrent_load(cursor, planned, high_water)
        if other is not None:
            load_id, other_run, *numbers = other
            return FileLoad(planned, load_id, LoadCounts(*numbers), read=False,
                            note=f'loaded meanwhile by run {other_run}: not loaded twice')
        if FileState.of(location) != planned.state:
            raise _changed(location, planned)
        cursor.execute(sql.SQL("select nextval(pg_get_serial_sequence('{}.file_loads', 'load_id'))").format(
            sql.SQL(AUDIT)))
        load_id = cursor.fetchone()[0]
        store_table = f'{prefix}_{load_id}'
        source_file = planned.file.relative

        def spooled(spool, text: str) -> None:
            try:
                spool.write(text)
            except OSError as error:  # the rejected lines are kept aside until the rows are in
                raise DatasetError(f'{location}: no room to keep its rejected lines and adjusted values aside in '
                                   f'{tempfile.gettempdir()} (TMPDIR): {error.strerror or error}; nothing of it '
                                   'is loaded') from error

        def reject(rejection: Rejection) -> None:
            spooled(rejected, copy_row(load_id, source_file, rejection.line_number, rejection.raw_text,
                                       rejection.reason))

        def adjust(note: Adjustment) -> None:
            spooled(adjusted, copy_row(load_id, source_file, note.line_number, note.column, note.raw_value,
                                       note.loaded_value, note.reason))

        cursor.execute(sql.SQL('create table {} ({})').format(sql.Identifier(STORE, store_table), sql.SQL(table.ddl())))
        db.copy_lines(conn, STORE, store_table, table.column_names, iter_copy_lines(Path(location), table, counts, reject,
                                                                                    adjust))
        if FileState.of(location) != planned.state:  # written to while it was read: half a line, maybe
            raise _changed(location, planned)
        for spool, target, columns in ((rejected, 'rejected_rows', ('load_id',) + REJECTED_COLUMNS),
                                       (adjusted, 'adjusted_values', ('load_id',) + ADJUSTED_COLUMNS)):
            spool.seek(0)
            db.copy_lines(conn, STORE, target, columns, spool)
        if not counts.balanced:
            raise RuntimeError(f'{location}: {counts} does not balance; nothing committed')
        problem = refusal(location, counts, max_share, f'{STORE}.rejected_rows where load_id = {load_id}')
        cursor.execute(sql.SQL(
            'insert into {}.file_loads (load_id, source_file, target_table, file_date, size, mtime_ns, sha256, '
            'run_id, status, dataset_dir, store_table, lines_read, rows_loaded, rows_rejected, values_adjusted, note) '
            'values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)').format(sql.Identifier(AUDIT)),
            (load_id, source_file, f'raw.{table.name}', planned.file.file_date, planned.state.size,
             planned.state.mtime_ns, planned.sha256, run_id, 'refused' if problem else 'loaded', dataset,
             None if problem else store_table, counts.lines_read, counts.rows_loaded, counts.rows_rejected,
             counts.values_adjusted, str(problem) if problem else planned.note or None))
        if problem:
            cursor.execute(sql.SQL('drop table {}').format(sql.Identifier(STORE, store_table)))
        else:
            # Fresh statistics, so the models join the new rows with the right plans.
            cursor.execute(sql.SQL('analyze {}').format(sql.Identifier(STORE, store_table)))
    if problem:
        raise problem
    return FileLoad(planned, load_id, counts)


def sample_rows(load_ids: list[int], limit: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first rows of the loads ``load_ids`` (their store tables), for block previews and logs."""
    with db.transaction() as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL('select store_table from {}.file_loads where load_id = any(%s) and store_table is not null '
                               'order by load_id').format(sql.Identifier(AUDIT)), (load_ids,))
        tables = [row[0] for row in cursor.fetchall()]
        if not tables:
            return pd.DataFrame()
        return db.fetch_frame(conn, sql.SQL('select * from {} limit %s').format(sql.Identifier(STORE, tables[0])),
                              (limit,))


def check_loads(report: pd.DataFrame) -> None:
    """The test of every loader block, on either pipeline: every line read is loaded or rejected,
    file by file. Raises AssertionError naming the file."""
    for row in report.itertuples():
        if pd.isna(row.lines_read):
            continue
        assert row.lines_read == row.rows_loaded + row.rows_rejected, (
            f'{row.source_file}: {row.lines_read} lines read, but {row.rows_loaded} loaded '
            f'+ {row.rows_rejected} rejected')


def check_loads_stored(report: pd.DataFrame) -> None:
    """The data contract of the loads in Postgres: each load the run publishes (made or adopted
    by it: ``PUBLISHES``) holds in its table and evidence exactly what the manifest records for it.
    The loads of unchanged and re-delivered files were checked by the run that made them: counting
    them again made every run read the whole history (3 s at 40M events). Raises AssertionError
    naming the file."""
    load_ids = [int(x) for x in report[report.action.isin(PUBLISHES)].load_id.dropna()]
    with db.transaction() as conn, conn.cursor() as cursor:
        for load_id in load_ids:
            cursor.execute(sql.SQL('select source_file, store_table, rows_loaded, rows_rejected from {}.file_loads '
                                   'where load_id = %s').format(sql.Identifier(AUDIT)), (load_id,))
            source_file, store_table, rows_loaded, rows_rejected = cursor.fetchone()
            cursor.execute(sql.SQL('select (select count(*) from {}), (select count(*) from {}.rejected_rows '
                                   'where load_id = %s)').format(sql.Identifier(STORE, store_table),
                                                                 sql.Identifier(STORE)), (load_id,))
            table_rows, rejected_rows = cursor.fetchone()
            assert (table_rows, rejected_rows) == (rows_loaded, rows_rejected), (
                f'{source_file}: store holds {table_rows} rows and {rejected_rows} rejected lines; the manifest '
                f'records {rows_loaded} and {rows_rejected}')
