"""Both engines on one dataset folder, without Mage: the Postgres pipeline incremental, its event
files arriving over several runs (its own functions, in this process), and the Spark pipeline's
loader and models on a SparkSession over the final folder; each returns the same shape, so a test
compares them whole."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2
import psycopg2
import yaml
from psycopg2 import sql

from mage_project.catalog import PROJECT_DIR, SPARK_TO_POSTGRES
from mage_project.ingest.dialect import DatasetError
from mage_project.ingest.files import check_input_files
from mage_project.spark import load as spark_load
from mage_project.spark import models as spark_models
from tests.support.engine import run_in_process
from tools.datagen.layout import split_events


@dataclass
class Result:
    counts: dict  # file -> (lines read, loaded, rejected, adjusted)
    rejected: list  # (file, line, raw line, reason), sorted
    adjusted: list  # (file, line, column, written, loaded, why), sorted
    tables: dict | None  # question table (and conflicting_users) -> its rows; None: a file was refused
    refusal: str = ''  # why the Postgres pipeline refused a file, if it did


def spark_conf() -> dict[str, str]:
    """The project's spark_config (mage_project/metadata.yaml) as Mage renders it: master and
    the other settings."""
    text = jinja2.Template((PROJECT_DIR / 'metadata.yaml').read_text()).render(env_var=os.getenv)
    config = yaml.safe_load(text)['spark_config']
    return {'spark.master': config['spark_master'], 'spark.app.name': config['app_name'], **config['others']}


def arriving_layout(folder: Path, target: Path, parts: int = 4) -> list[list[str]]:
    """``folder`` copied to ``target`` with its events as a folder of ``parts`` files when they are
    one plain UTF-8 file (any other stays as it is); returns the event files in the order of the
    runs they arrive in: the first alone, the middle ones together, the last alone."""
    shutil.copytree(folder, target)
    single = target / 'user_interaction.csv'
    try:
        single.read_text(encoding='utf-8')
    except (FileNotFoundError, UnicodeDecodeError):
        return [[]]
    names = [path.name for path in split_events(target, files=parts)]
    return [names[:1], names[1:-1], names[-1:]] if len(names) > 2 else [names]


def connect(database_env: dict):
    return psycopg2.connect(host=database_env['POSTGRES_HOST'], port=database_env['POSTGRES_PORT'],
                            user=database_env['POSTGRES_USER'], password=database_env['POSTGRES_PASSWORD'],
                            dbname=database_env['POSTGRES_DB'])


def refused_evidence(database_env: dict, refusal: str) -> Result:
    """What the Postgres pipeline kept of the files it read when one was refused (no question
    tables: nothing was published); nothing, when it refused before reading any."""
    with connect(database_env) as conn, conn.cursor() as cursor:
        cursor.execute("select to_regclass('audit.file_loads')")
        if cursor.fetchone()[0] is None:
            return Result({}, [], [], None, refusal)
        cursor.execute("select load_id, source_file, lines_read, rows_loaded, rows_rejected, values_adjusted "
                       "from audit.file_loads where status in ('loaded', 'published', 'refused')")
        loads = cursor.fetchall()
        ids = [row[0] for row in loads]
        cursor.execute('select source_file, line_number, raw_line, reason from store.rejected_rows '
                       'where load_id = any(%s)', (ids,))
        rejected = sorted(cursor.fetchall())
        cursor.execute('select source_file, line_number, column_name, raw_value, loaded_value, reason '
                       'from store.adjusted_values where load_id = any(%s)', (ids,))
        adjusted = sorted(cursor.fetchall())
    return Result({row[1]: tuple(row[2:]) for row in loads}, rejected, adjusted, None, refusal)


def on_postgres(database_env: dict, folder: Path, work: Path, arrivals: list[list[str]]) -> Result:
    """The Postgres pipeline, incremental: ``folder``'s event files arriving over several runs
    (``arrivals``, names in user_interaction/; [[]]: the folder as it is, in one run), each run the
    pipeline's own functions in this process; what is published after the last run."""
    arriving = work / 'arriving'
    shutil.copytree(folder, arriving, ignore=shutil.ignore_patterns('user_interaction'))
    for names in arrivals:
        if names:
            (arriving / 'user_interaction').mkdir(exist_ok=True)
            for name in names:
                shutil.copy2(folder / 'user_interaction' / name, arriving / 'user_interaction' / name)
        elif (folder / 'user_interaction').is_dir():
            shutil.copytree(folder / 'user_interaction', arriving / 'user_interaction')
        try:  # any share of rejected lines: the engines' evidence is compared, not the limit
            run_in_process(database_env, arriving, work, {'max_rejected_share': 1})
        except DatasetError as error:  # refused: a file with no loadable row (its evidence kept), or empty
            return refused_evidence(database_env, str(error))
    with connect(database_env) as conn, conn.cursor() as cursor:
        cursor.execute('select source_file, lines_read, rows_loaded, rows_rejected, values_adjusted from raw.load_audit')
        counts = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
        cursor.execute('select source_file, line_number, raw_line, reason from raw.rejected_rows')
        rejected = sorted(cursor.fetchall())
        cursor.execute('select source_file, line_number, column_name, raw_value, loaded_value, reason '
                       'from raw.adjusted_values')
        adjusted = sorted(cursor.fetchall())
        results = {}
        for name in SPARK_TO_POSTGRES:
            source = 'store' if name == 'conflicting_users' else 'analytics'
            cursor.execute(sql.SQL('select * from {}.{} order by 1').format(sql.Identifier(source), sql.Identifier(name)))
            results[name] = [tuple(row) for row in cursor.fetchall()]
    return Result(counts, rejected, adjusted, results)


def on_spark(spark, folder: Path | str, schema: str) -> Result:
    """The Spark pipeline's logic: spark_load.read_files for users.csv and every event file (byte-
    identical copies read once), then spark_models.create_inputs and run_models. ``folder`` may be a
    URI (file:///...)."""
    from pyspark.sql import functions as F

    spark_load.prepare(spark)
    uri = str(folder)
    files = spark_load.SparkFiles(spark)
    tables, inputs = check_input_files(files, uri)
    counts, rejected, adjusted = {}, [], []
    for name, found in (('users', [inputs.users]), ('user_interaction', list(inputs.events))):
        found, _ = spark_load.distinct_contents(files, found)
        loads = spark_load.read_files(spark, tables[name], [(item.location, item.relative) for item in found])
        frames = [load.loaded.withColumn('load_id', F.lit(index + 1).cast('bigint')) for index, load in enumerate(loads)]
        loaded = frames[0]
        for frame in frames[1:]:
            loaded = loaded.unionByName(frame)
        loaded.createOrReplaceTempView(spark_load.view_name(schema, name))
        for load in loads:
            c = load.counts
            counts[load.source_file] = (c.lines_read, c.rows_loaded, c.rows_rejected, c.values_adjusted)
            rejected += [(load.source_file, *row) for row in load.rejected.collect()]
            adjusted += [(load.source_file, *row) for row in load.adjusted.collect()]
    spark_models.create_inputs(spark, schema, tables)
    rows = spark_models.run_models(spark, schema)
    return Result(counts, sorted(rejected), sorted(adjusted),
                  {name: [tuple(row) for row in rows[name]] for name in SPARK_TO_POSTGRES})
