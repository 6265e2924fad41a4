"""The Spark pipeline's models: every SQL block of the Postgres pipeline, translated to Spark SQL
(spark/sql.py) and run on Spark over this run's raw views (spark/load.py). Staging and the
intermediate models stay in Spark; the question tables and the conflicting-users summary, a few rows each, are written to the
run's build schema in Postgres with the columns and types the Postgres pipeline gives them, so the
answers, publish and report blocks are the same code for both engines."""
from __future__ import annotations

from functools import partial

import pandas as pd
from psycopg2 import sql
from psycopg2.extras import execute_values

from mage_project.builds import lifecycle
from mage_project.builds.contracts import TOTALS, failed_totals
from mage_project.builds.state import base_columns
from mage_project.catalog import SPARK_TO_POSTGRES
from mage_project.core import db
from mage_project.core.settings import dataset_location
from mage_project.ingest.dialect import Table
from mage_project.ingest.files import read_ddl
from mage_project.models.sql import build_statements
from mage_project.spark.load import SparkFiles, view_name
from mage_project.spark.sql import spark_blocks, to_spark

# The Spark types of the Postgres types that the inputs' columns have.
_SPARK_TYPES = {'int': 'int', 'integer': 'int', 'int4': 'int', 'smallint': 'smallint', 'int2': 'smallint',
                'bigint': 'bigint', 'int8': 'bigint', 'boolean': 'boolean', 'date': 'date', 'text': 'string',
                'timestamp': 'timestamp_ntz'}


def spark_type(postgres_type: str) -> str:
    base = postgres_type.split('(')[0].strip().lower()
    return 'string' if base in ('varchar', 'char', 'character', 'character varying') else _SPARK_TYPES[base]


def create_inputs(spark, schema: str, tables: dict[str, Table]) -> None:
    """The inputs of the SQL blocks for a run that starts from nothing (the Spark pipeline rebuilds
    every time): every event load added (+1), users as read, no published state (state.base_columns,
    empty)."""
    view = partial(view_name, schema)
    load_ids = [row[0] for row in spark.table(view('user_interaction')).select('load_id').distinct().collect()]
    spark.createDataFrame([(load_id, 1) for load_id in load_ids], 'load_id bigint, change int') \
        .createOrReplaceTempView(view('load_changes'))
    spark.createDataFrame([(True, False)], 'users_changed boolean, has_base boolean') \
        .createOrReplaceTempView(view('run_inputs'))
    for name, columns in base_columns(tables).items():
        schema_text = ', '.join(f'{part.split()[0]} {spark_type(" ".join(part.split()[1:]))}'
                                for part in (p.strip() for p in columns.split(',')))
        spark.createDataFrame([], schema_text).createOrReplaceTempView(view(name))


def run_models(spark, schema: str, variables: dict | None = None) -> dict[str, list]:
    """Run every SQL block, with the run's ``variables``, on Spark into views of ``schema`` (its
    inputs made first: create_inputs); staging and the intermediate models are materialised without
    their plans (localCheckpoint: several models read each, and plans stay short), the rows of the
    small tables are returned by table."""
    view = partial(view_name, schema)
    rows = {}
    for block, query in spark_blocks(variables):
        frame = spark.sql(to_spark(query, view))
        if block.table in SPARK_TO_POSTGRES:
            rows[block.table] = frame.collect()
            frame = spark.createDataFrame(rows[block.table], frame.schema)
        else:
            frame = frame.localCheckpoint()
        frame.createOrReplaceTempView(view(block.table))
    return rows


def failed_spark_contracts(spark, schema: str, audit: pd.DataFrame) -> list[str]:
    """contracts.TOTALS on Spark: every raw event reaches staging, the orphan and copy counts add
    up, every input line is loaded or rejected (``audit``: the load_audit rows)."""
    view = partial(view_name, schema)
    spark.table(view('rejected_users')).unionByName(spark.table(view('rejected_user_interaction'))) \
        .createOrReplaceTempView(view('rejected_rows'))
    spark.createDataFrame(audit[['source_file', 'target_table', 'lines_read', 'rows_loaded', 'rows_rejected']]) \
        .createOrReplaceTempView(view('load_audit'))
    return failed_totals(tuple(spark.sql(to_spark(TOTALS, view)).first()))


def create_postgres_tables(cursor, schema: str, tables: dict[str, Table], names: tuple[str, ...],
                           variables: dict | None = None) -> None:
    """Create ``names`` in ``schema`` with the columns Postgres gives them: the SQL blocks run as
    temporary views over empty temporary raw tables, and each table is made LIKE its view."""
    cursor.execute('set local search_path = pg_temp, pg_catalog')
    for table in tables.values():
        cursor.execute(sql.SQL('create temporary table {} ({}, load_id bigint)').format(
            sql.Identifier(table.name), sql.SQL(table.ddl())))
    cursor.execute('create temporary table load_changes (load_id bigint, change int)')
    cursor.execute('create temporary table run_inputs (users_changed boolean, has_base boolean)')
    for name, columns in base_columns(tables).items():
        cursor.execute(sql.SQL('create temporary table {} ({})').format(sql.Identifier(name), sql.SQL(columns)))
    for block, query in build_statements(variables):
        cursor.execute(sql.SQL('create temporary view {} as {}').format(sql.Identifier(block.table), sql.SQL(query)))
    for name in names:
        cursor.execute(sql.SQL('create table {} (like pg_temp.{})').format(
            sql.Identifier(schema, name), sql.Identifier(name)))


def build_models(spark, variables: dict | None = None) -> pd.DataFrame:
    """The models block: run the SQL blocks on Spark with the run's ``variables``, check the totals,
    write the small tables to the build schema. Output: each table written and its rows."""
    build = lifecycle.ensure_owned()
    tables = read_ddl(SparkFiles(spark), dataset_location())
    create_inputs(spark, build.schema, tables)
    rows = run_models(spark, build.schema, variables)
    with db.transaction() as conn:
        audit = db.fetch_frame(conn, sql.SQL('select source_file, target_table, lines_read, rows_loaded, '
                                             'rows_rejected from {}.load_audit').format(sql.Identifier(build.schema)))
    failures = failed_spark_contracts(spark, build.schema, audit)
    if failures:
        raise AssertionError('not published, the previous tables stay: ' + '; '.join(failures))
    with db.transaction() as conn, conn.cursor() as cursor:
        create_postgres_tables(cursor, build.schema, tables, SPARK_TO_POSTGRES, variables)
        for name in SPARK_TO_POSTGRES:
            if rows[name]:
                execute_values(cursor, sql.SQL('insert into {} values %s').format(
                    sql.Identifier(build.schema, name)).as_string(conn), [tuple(row) for row in rows[name]])
    return pd.DataFrame([{'table': name, 'rows': len(rows[name])} for name in SPARK_TO_POSTGRES])
