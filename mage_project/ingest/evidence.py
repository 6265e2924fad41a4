"""The evidence of a load, kept beside its rows: rejected_rows (each line that could not load, with
its reason), adjusted_values (each value loaded differently from its spelling, and why) and
load_audit (the line counts of each file). Both pipelines' loaders, Postgres and Spark, write them
the same way."""
from __future__ import annotations

from psycopg2 import sql

from mage_project.ingest.dialect import DatasetError, LoadCounts, copy_escape

REJECTED_COLUMNS = ('source_file', 'line_number', 'raw_line', 'reason')
ADJUSTED_COLUMNS = ('source_file', 'line_number', 'column_name', 'raw_value', 'loaded_value', 'reason')


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


def copy_row(*values) -> str:
    """A COPY text line of values; a NUL (which Postgres text cannot hold) is shown as \\x00."""
    return '\t'.join(copy_escape(str(v).replace('\x00', '\\x00')) for v in values) + '\n'


def record_load(cursor, schema: str, run_id: str, source_file: str, dataset: str, name: str,
                counts: LoadCounts) -> None:
    """The load_audit row of one file (both pipelines' loaders write it)."""
    cursor.execute(
        sql.SQL('insert into {}.load_audit (run_id, source_file, dataset_dir, target_table, '
                'lines_read, rows_loaded, rows_rejected, values_adjusted) '
                'values (%s, %s, %s, %s, %s, %s, %s, %s)').format(sql.Identifier(schema)),
        (run_id, source_file, dataset, f'raw.{name}', counts.lines_read, counts.rows_loaded,
         counts.rows_rejected, counts.values_adjusted))


def refusal(path, counts: LoadCounts, max_share: float, where_rejected: str) -> DatasetError | None:
    """Why a file that yields no row, or whose rejected share is over ``max_share``, is not
    published (None: it may be): the message names the file, the counts, the most common reasons
    and where the rejected lines are (``where_rejected``)."""
    share = counts.rows_rejected / counts.lines_read if counts.lines_read else 1.0
    where = (f'{path}: {counts.lines_read} lines read, {counts.rows_loaded} loaded, '
             f'{counts.rows_rejected} rejected')
    reasons = f' (most common reasons: {counts.top_reasons()})' if counts.reasons else ''
    if counts.rows_loaded == 0:
        return DatasetError(f'{where}{reasons}: no loadable row; refusing to publish, the previous tables stay')
    if share > max_share:
        return DatasetError(
            f'{where}{reasons}: {share:.1%} rejected is over the limit of {max_share:.1%} '
            '(MAX_REJECTED_SHARE, or the pipeline variable max_rejected_share); refusing to publish, '
            f'the previous tables stay. The rejected lines are in {where_rejected}.')
    return None


def check_loadable(path, counts: LoadCounts, max_share: float, schema: str) -> None:
    """refusal(), raised (the Spark pipeline's loads: the rejected lines are in its build)."""
    problem = refusal(path, counts, max_share, f"this run's build schema, {schema}.rejected_rows")
    if problem:
        raise problem
