"""One source of truth for the question logic: the Spark pipeline (its loader and the SQL blocks
translated with sqlglot) gives the Postgres pipeline's rows, line numbers, rejection reasons,
adjustments and question tables on every dataset the tests have: the project's sample, the
take-home's files, generated and planted datasets, every hostile trap and the bad-input
catalogue of tests/reliability."""
from __future__ import annotations

import gzip
import shutil

import pytest

from mage_project.utils import spark_load
from mage_project.utils.dataset import DatasetError, LoadCounts, check_input_files, input_file, iter_copy_lines
from mage_project.utils.generate import Plan, generate
from mage_project.utils.traps import TRAPS, plant
from tests.conftest import REPO
from tests.reliability.test_bad_input import FILE_LEVEL as FILE_LEVEL_CASES
from tests.reliability.test_bad_input import GOOD, ROW_LEVEL
from tests.spark.engines import on_postgres, on_spark

pytestmark = pytest.mark.slow

SAMPLE = Plan(users=60, events=1500, seed=7)


def bad_lines(folder):
    """tests/reliability's row-level catalogue: a header on line 1, every bad line, a good last line."""
    events = folder / 'user_interaction.csv'
    header, *cases = ROW_LEVEL.values()
    events.write_bytes(header[0] + b'\n' + events.read_bytes() + b'\n'
                       + b'\n'.join(line for line, _ in cases) + b'\n' + GOOD.encode())


FORMAT_VARIANTS = {
    'utf-8 BOM': lambda content: b'\xef\xbb\xbf' + content,
    'CRLF endings': lambda content: content.replace(b'\n', b'\r\n'),
    'final newline': lambda content: content + b'\n',
    'stray CR inside a line': lambda content: content.replace(b"'VIEW'", b"'VI\rEW'", 3),
}


def variant(name):
    def apply(folder):
        for path in (folder / 'users.csv', folder / 'user_interaction.csv'):
            path.write_bytes(FORMAT_VARIANTS[name](path.read_bytes()))
    return apply


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
    assert spark.counts == postgres.counts
    assert spark.rejected == postgres.rejected
    assert spark.adjusted == postgres.adjusted
    for name, rows in postgres.tables.items():
        assert spark.tables[name] == rows, name


@pytest.mark.parametrize('case', DATASETS)
def test_both_engines_give_the_same_rows_and_tables(spark, database, tmp_path, case):
    folder = folder_for(tmp_path, case)
    with database.connect() as conn:
        postgres = on_postgres(conn, folder, 'engines')
    assert_same(postgres, on_spark(spark, folder, f'engines_{abs(hash(case))}'))


def test_both_engines_give_the_same_tables_on_the_take_home_files(spark, database, original_dataset):
    with database.connect() as conn:
        postgres = on_postgres(conn, original_dataset, 'engines')
    assert_same(postgres, on_spark(spark, original_dataset, 'engines_take_home'))


def cut_gzip(path):
    """``path`` replaced by its gzip, cut short."""
    path.with_suffix('.csv.gz').write_bytes(gzip.compress(path.read_bytes())[:-200])
    path.unlink()


# The file-level catalogue of tests/reliability, and a gzip stream cut short.
FILE_LEVEL = {
    **FILE_LEVEL_CASES,
    'broken gzip': (lambda d: cut_gzip(d / 'user_interaction.csv'), 'user_interaction.csv.gz: not a readable gzip file'),
    'csv and csv.gz both': (lambda d: (d / 'users.csv.gz').write_bytes(gzip.compress((d / 'users.csv').read_bytes())),
                            'users.csv and users.csv.gz both exist'),
}


def python_load(folder):
    """What the Postgres pipeline's reader does before any database work: the file checks, then
    reading every line."""
    tables = check_input_files(folder)
    for name in ('users', 'user_interaction'):
        list(iter_copy_lines(input_file(folder, name), tables[name], LoadCounts(), lambda r: None))


def spark_read(spark, folder):
    uri = str(folder)
    tables = spark_load.check_inputs(spark, uri)
    for name in ('users', 'user_interaction'):
        spark_load.read_file(spark, tables[name], spark_load.input_uri(spark_load.Storage(spark), uri, name))


@pytest.mark.parametrize('case', FILE_LEVEL)
def test_both_engines_refuse_the_same_files_naming_them(spark, tmp_path, case):
    folder = tmp_path / 'data'
    shutil.copytree(REPO / 'dataset', folder)
    breaks, message = FILE_LEVEL[case]
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
        spark_load.check_inputs(spark, 's3a://no-bucket/events')
