"""Both engines on one dataset folder, without Mage: the Postgres pipeline's loader and SQL
blocks on a schema of a test database, and the Spark pipeline's loader and models on a
SparkSession; each returns the same shape, so a test compares them whole."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from psycopg2 import sql

from mage_project.catalog import PROJECT_DIR, SPARK_TO_POSTGRES
from mage_project.core import db
from mage_project.ingest.dialect import LoadCounts, iter_copy_lines
from mage_project.ingest.files import LocalFiles, check_input_files, input_file
from mage_project.models.sql import run_models
from mage_project.spark import load as spark_load
from mage_project.spark import models as spark_models

FILES = ('users', 'user_interaction')


@dataclass
class Result:
    counts: dict  # file -> (lines read, loaded, rejected, adjusted)
    rejected: list  # (file, line, raw line, reason), sorted
    adjusted: list  # (file, line, column, written, loaded, why), sorted
    tables: dict  # question table (and conflicting_users) -> its rows, in position order


def spark_conf() -> dict[str, str]:
    """The project's spark_config (mage_project/metadata.yaml) as Mage renders it: master and
    the other settings."""
    text = jinja2.Template((PROJECT_DIR / 'metadata.yaml').read_text()).render(env_var=os.getenv)
    config = yaml.safe_load(text)['spark_config']
    return {'spark.master': config['spark_master'], 'spark.app.name': config['app_name'], **config['others']}


def on_postgres(conn, folder: Path, schema: str) -> Result:
    """The Postgres pipeline's logic: dialect.iter_copy_lines into raw tables, then every SQL block."""
    tables = check_input_files(LocalFiles(), str(folder))
    counts, rejected, adjusted = {}, [], []
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('create schema {}').format(sql.Identifier(schema)))
        for name in FILES:
            table, path, load = tables[name], Path(input_file(LocalFiles(), str(folder), name)), LoadCounts()
            cursor.execute(sql.SQL('create table {}.{} ({})').format(
                sql.Identifier(schema), sql.Identifier(name), sql.SQL(table.ddl())))
            notes = []
            db.copy_lines(conn, schema, name, table.column_names, iter_copy_lines(
                path, table, load, lambda r: rejected.append((path.name, r.line_number, r.raw_text, r.reason)),
                lambda a: notes.append((path.name, a.line_number, a.column, a.raw_value, a.loaded_value, a.reason))))
            adjusted += notes
            counts[path.name] = (load.lines_read, load.rows_loaded, load.rows_rejected, load.values_adjusted)
        run_models(conn, schema)
        results = {}
        for name in SPARK_TO_POSTGRES:
            cursor.execute(sql.SQL('select * from {}.{} order by 1').format(sql.Identifier(schema), sql.Identifier(name)))
            results[name] = [tuple(row) for row in cursor.fetchall()]
    conn.rollback()
    return Result(counts, sorted(rejected), sorted(adjusted), results)


def on_spark(spark, folder: Path | str, schema: str) -> Result:
    """The Spark pipeline's logic: spark_load.read_file for both files, then spark_models.run_models.
    ``folder`` may be a URI (file:///...)."""
    spark_load.prepare(spark)
    uri = str(folder)
    files = spark_load.SparkFiles(spark)
    tables = check_input_files(files, uri)
    counts, rejected, adjusted = {}, [], []
    for name in FILES:
        load = spark_load.read_file(spark, tables[name], input_file(files, uri, name))
        load.loaded.createOrReplaceTempView(spark_load.view_name(schema, name))
        c = load.counts
        counts[load.source_file] = (c.lines_read, c.rows_loaded, c.rows_rejected, c.values_adjusted)
        rejected += [(load.source_file, *row) for row in load.rejected.collect()]
        adjusted += [(load.source_file, *row) for row in load.adjusted.collect()]
    rows = spark_models.run_models(spark, schema)
    return Result(counts, sorted(rejected), sorted(adjusted),
                  {name: [tuple(row) for row in rows[name]] for name in SPARK_TO_POSTGRES})
