"""One source of truth for the question logic: the Spark pipeline (its loader and the SQL blocks
translated with sqlglot), reading a folder of event files whole, gives the rows, line numbers,
rejection reasons, adjustments and question tables that the incremental Postgres pipeline
publishes after the same files arrived over several runs, on every dataset the tests have: the
project's sample, the take-home's files, generated and planted datasets, every hostile trap and
the bad-input catalogue of tests/reliability."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from mage_project.ingest.dialect import DatasetError, LoadCounts, iter_copy_lines
from mage_project.ingest.files import LocalFiles, check_input_files
from mage_project.spark.load import SparkFiles, read_file
from tests.support.cases import FILE_LEVEL, FORMAT_VARIANTS, GZIP_FILE_LEVEL, SAMPLE, bad_lines, write_variant
from tests.support.project import REPO
from tests.support.spark_engines import arriving_layout, on_postgres, on_spark
from tools.datagen.generate import Plan, generate
from tools.datagen.traps import TRAPS, plant

pytestmark = pytest.mark.spark


def variant(name):
    return lambda folder: write_variant(folder, name)


def gzip_after_blank_lines(folder):
    """user_interaction.csv.gz whose first 30 lines are blank: not an empty file (the check looks
    past the compressed header), its blank lines rejected."""
    plain = folder / 'user_interaction.csv'
    (folder / 'user_interaction.csv.gz').write_bytes(gzip.compress(b'\n' * 30 + plain.read_bytes(), mtime=0))
    plain.unlink()


DATASETS = {
    'sample': None,
    'gzip after blank lines': gzip_after_blank_lines,
    'generated': lambda folder: generate(folder, Plan(users=300, events=6000, seed=11)),
    'bad lines': bad_lines,
    **{f'format: {name}': variant(name) for name in FORMAT_VARIANTS},
    **{f'trap: {name}': (lambda name: lambda folder: (generate(folder, SAMPLE), plant(folder, [name])))(name)
       for name in sorted(TRAPS)},
}


def folder_for(tmp_path, case):
    folder = tmp_path / 'data'
    shutil.copytree(REPO / 'dataset', folder)
    if DATASETS[case]:
        DATASETS[case](folder)
    return folder


def assert_same(postgres, spark):
    """The same evidence for every file the Postgres pipeline read (all of them, unless it refused
    one and stopped) and, when it published, the same question tables."""
    read = set(postgres.counts)
    assert {name: counts for name, counts in spark.counts.items() if name in read} == postgres.counts
    assert [row for row in spark.rejected if row[0] in read] == postgres.rejected
    assert [row for row in spark.adjusted if row[0] in read] == postgres.adjusted
    for name, rows in (postgres.tables or {}).items():
        assert spark.tables[name] == rows, name


@pytest.mark.parametrize('case', DATASETS)
def test_spark_gives_the_incremental_postgres_pipeline_s_rows_and_tables(spark, database, tmp_path, case):
    # The events as four files arriving over three Postgres runs; Spark reads the final folder.
    final = tmp_path / 'final'
    arrivals = arriving_layout(folder_for(tmp_path, case), final)
    postgres = on_postgres(database.env, final, tmp_path, arrivals)
    if postgres.refusal and not postgres.counts:  # refused before any load: Spark refuses it alike
        with pytest.raises(DatasetError) as refused:
            on_spark(spark, final, f'engines_{abs(hash(case))}')
        assert str(refused.value).replace('/final/', '/') == postgres.refusal.replace('/arriving/', '/')
        return
    assert_same(postgres, on_spark(spark, final, f'engines_{abs(hash(case))}'))


def test_spark_gives_the_incremental_postgres_pipeline_s_tables_on_the_take_home_files(spark, database, tmp_path,
                                                                                       original_dataset):
    final = tmp_path / 'final'
    arrivals = arriving_layout(original_dataset, final)
    postgres = on_postgres(database.env, final, tmp_path, arrivals)
    assert_same(postgres, on_spark(spark, final, 'engines_take_home'))


def python_load(folder):
    """What the Postgres pipeline's reader does before any database work: the file checks, then
    reading every line."""
    tables, inputs = check_input_files(LocalFiles(), str(folder))
    for found in (inputs.users, *inputs.events):
        list(iter_copy_lines(Path(found.location), tables[found.table], LoadCounts(), lambda r: None))


def spark_read(spark, folder):
    uri, files = str(folder), SparkFiles(spark)
    tables, inputs = check_input_files(files, uri)
    for found in (inputs.users, *inputs.events):
        read_file(spark, tables[found.table], found.location)


# The file-level catalogue, and the two that only a compressed file can have.
REFUSED = {**FILE_LEVEL, **GZIP_FILE_LEVEL}


@pytest.mark.parametrize('case', REFUSED)
def test_both_engines_refuse_the_same_files_naming_them(spark, tmp_path, case):
    folder = tmp_path / 'data'
    shutil.copytree(REPO / 'dataset', folder)
    breaks, message = REFUSED[case]
    breaks(folder)
    with pytest.raises(DatasetError) as python_error:
        python_load(folder)
    with pytest.raises(DatasetError) as spark_error:
        spark_read(spark, folder)
    assert message in str(python_error.value) and message in str(spark_error.value)
    if case != 'broken gzip':  # the decompressor's own words differ between zlib and Hadoop
        assert str(spark_error.value) == str(python_error.value)


def test_a_folder_given_as_a_uri_reads_as_the_folder(spark, tmp_path):
    folder = folder_for(tmp_path, 'bad lines')
    by_path = on_spark(spark, folder, 'engines_path')
    by_uri = on_spark(spark, folder.as_uri(), 'engines_uri')
    assert (by_uri.counts, by_uri.rejected, by_uri.tables) == (by_path.counts, by_path.rejected, by_path.tables)


def test_a_location_spark_cannot_read_is_named(spark):
    with pytest.raises(DatasetError, match=r'^s3a://no-bucket/events: Spark cannot read this location \('):
        check_input_files(SparkFiles(spark), 's3a://no-bucket/events')
