"""The Spark pipeline's raw layer: read users.csv and the event files (user_interaction.csv, or
the files of the folder user_interaction/; .csv or .csv.gz) with Spark, from a local folder or any
URI Spark reads (s3a://, gs://, hdfs://), with the same rules, line numbers and rejection reasons
as the Postgres pipeline's loader (ingest/). It reads every file each run: the engine for full
rebuilds at scale, equal to the Postgres pipeline's tables after any incremental runs.

- The files are found and checked by ingest.files, through Spark's file systems (SparkFiles).
- Spark splits the files into lines (LF, or CR when a file's first block has CRs and no LF, as
  dialect.iter_line_blocks decides) and numbers them: the position of a line within its file
  split plus the lines of the file's splits before it. All the files are read in one pass.
- Lines in the take-home's canonical form match dialect.fast_pattern, run by Spark's own regular
  expressions in the JVM, and become typed rows there. That is nearly every line of a real feed.
- Every other line (rejections, and values that load differently from their spelling) goes, as
  its raw bytes, to dialect.careful_line in a Python UDF on the executors: the same function the
  Postgres loader uses, so reasons and adjustments match by construction. The executors get
  ingest/dialect.py alone (prepare), which is why it imports only the standard library.

Raw events stay in Spark. What crosses to Postgres is small: rejected lines, adjusted values and
the load counts (the evidence), then the question tables (spark/models.py).
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from mage_project.builds import lifecycle
from mage_project.builds.start import open_build
from mage_project.catalog import PROJECT_DIR
from mage_project.core import db
from mage_project.core.settings import ConfigurationError, dataset_location, max_rejected_share
from mage_project.ingest.dialect import (
    BLOCK_BYTES,
    GZIP_MAGIC,
    MAX_LINE_BYTES,
    UTF8_BOM,
    DatasetError,
    LoadCounts,
    Table,
    careful_line,
    fast_pattern,
    is_cr_only,
)
from mage_project.ingest.evidence import (
    ADJUSTED_COLUMNS,
    REJECTED_COLUMNS,
    check_loadable,
    copy_row,
    create_evidence_tables,
    record_load,
)
from mage_project.ingest.files import InputFile, check_input_files, find_inputs, read_ddl, text_head
from mage_project.ingest.load import SAMPLE_ROWS

SPARK_TYPES = {'smallint': 'smallint', 'int2': 'smallint', 'int': 'int', 'integer': 'int', 'int4': 'int',
               'bigint': 'bigint', 'int8': 'bigint', 'timestamp': 'timestamp_ntz'}
CAREFUL_SCHEMA = ('struct<values: array<string>, reason: string, kind: string, raw_text: string, '
                  'notes: array<struct<column_name: string, raw_value: string, loaded_value: string, '
                  'reason: string>>>')
HEAD_BYTES = BLOCK_BYTES + len(UTF8_BOM)  # what dialect.iter_line_blocks looks at to tell CR-only files


def view_name(schema: str, table: str) -> str:
    """The Spark temporary view of a build's table."""
    return f'{schema}__{table}'


# ---------------------------------------------------------------------------------------------
# Files, through Hadoop's FileSystem
# ---------------------------------------------------------------------------------------------

class SparkFiles:
    """ingest.files.Files for any location Spark reads, through Hadoop's FileSystem: the same calls
    for local folders and object stores."""

    def __init__(self, spark):
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()

    def _status(self, uri: str):
        from py4j.protocol import Py4JJavaError

        try:
            path = self._jvm.org.apache.hadoop.fs.Path(uri)
            fs = path.getFileSystem(self._conf)
            return (fs.getFileStatus(path) if fs.exists(path) else None), fs, path
        except Py4JJavaError as error:  # no file system for the scheme, no credentials, ...
            cause = str(error.java_exception.toString()).splitlines()[0]
            raise DatasetError(f'{uri}: Spark cannot read this location ({cause})') from None

    def is_dir(self, uri: str) -> bool:
        status = self._status(uri)[0]
        return status is not None and status.isDirectory()

    def is_file(self, uri: str) -> bool:
        status = self._status(uri)[0]
        return status is not None and status.isFile()

    def head(self, uri: str, size: int) -> bytes:
        """The first ``size`` bytes of the file as stored (not decompressed)."""
        _, fs, path = self._status(uri)
        stream = fs.open(path)
        try:
            return bytes(stream.readNBytes(size))
        finally:
            stream.close()

    def entries(self, uri: str) -> list[tuple[str, bool]]:
        _, fs, path = self._status(uri)
        return [(status.getPath().getName(), status.isDirectory()) for status in fs.listStatus(path)]

    def size(self, uri: str) -> int:
        return self._status(uri)[0].getLen()

    def sha256(self, uri: str) -> str:
        """The file's SHA-256, read through the file system (on the driver)."""
        _, fs, path = self._status(uri)
        digest = hashlib.sha256()
        stream = fs.open(path)
        try:
            while chunk := bytes(stream.readNBytes(1 << 20)):
                digest.update(chunk)
        finally:
            stream.close()
        return digest.hexdigest()


_LINKS: list[str] = []


def _readable_uri(uri: str, head: bytes) -> str:
    """Spark picks a file's codec by its name; gzip bytes under a .csv name (which the Postgres
    pipeline reads by their first bytes) are read through a .gz-named link when local."""
    if not head.startswith(GZIP_MAGIC) or uri.endswith('.gz'):
        return uri
    if '://' in uri and not uri.startswith('file:'):
        raise DatasetError(f'{uri}: gzip data under a name without .gz; Spark picks the codec by the name, '
                           'so rename it to end in .gz')
    folder = tempfile.mkdtemp(prefix='spark-gzip-')
    _LINKS.append(folder)
    link = Path(folder) / (Path(uri.removeprefix('file:')).name + '.gz')
    link.symlink_to(Path(uri.removeprefix('file:')).resolve())
    return str(link)


@atexit.register
def _remove_links() -> None:
    for folder in _LINKS:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The careful path's code on the executors
# ---------------------------------------------------------------------------------------------

def session(kwargs: dict):
    """The SparkSession Mage gives a block of the Spark pipeline (the project's spark_config in
    mage_project/metadata.yaml: SPARK_MASTER, local[2] by default)."""
    spark = kwargs.get('spark')
    if spark is None:
        raise ConfigurationError(
            'the Spark pipeline needs pyspark and Java 17: run `make spark` (installs requirements-spark.txt) '
            'and set JAVA_HOME if java is not on PATH')
    return spark


def prepare(spark) -> None:
    """Make ingest/dialect.py importable by the executors' Python (a zip of it, shipped with addPyFile)
    and use this interpreter for them unless PYSPARK_PYTHON names another (set it where the
    cluster's executors have another path)."""
    sc = spark.sparkContext
    if not os.getenv('PYSPARK_PYTHON'):
        sc.pythonExec = sys.executable
    sources = [PROJECT_DIR / '__init__.py', PROJECT_DIR / 'ingest' / '__init__.py', PROJECT_DIR / 'ingest' / 'dialect.py']
    digest = hashlib.sha256(b''.join(path.read_bytes() for path in sources)).hexdigest()[:12]
    name = f'mage_project_dialect_{digest}.zip'
    if name in getattr(sc, '_python_includes', []):
        return
    folder = tempfile.mkdtemp(prefix='spark-pyfiles-')
    _LINKS.append(folder)
    archive = Path(folder) / name
    with zipfile.ZipFile(archive, 'w') as package:
        for path in sources:
            package.write(path, path.relative_to(PROJECT_DIR.parent))
    sc.addPyFile(str(archive))


# ---------------------------------------------------------------------------------------------
# Loading one file
# ---------------------------------------------------------------------------------------------

@dataclass
class SparkLoad:
    uri: str
    source_file: str
    counts: LoadCounts
    loaded: object  # DataFrame: the typed rows
    rejected: object  # DataFrame: line_number, raw_line, reason
    adjusted: object  # DataFrame: line_number, column_name, raw_value, loaded_value, reason


def _typed(table: Table, values) -> list:
    """Columns of the table's types from string values (a list of Spark Columns)."""
    return [value.cast(SPARK_TYPES.get(column.base, 'string')).alias(column.name)
            for column, value in zip(table.columns, values)]


def read_file(spark, table: Table, uri: str, source_file: str | None = None) -> SparkLoad:
    """Read one CSV file into typed rows and its rejections and adjustments, numbered by line
    (read_files, for one file)."""
    return read_files(spark, table, [(uri, source_file or uri.rsplit('/', 1)[-1])])[0]


def read_files(spark, table: Table, found: list[tuple[str, str]]) -> list[SparkLoad]:
    """Read CSV files (location, source_file) into typed rows and their rejections and
    adjustments, each numbered by line within its file, in one pass over them all (one read per
    line separator: LF, or CR for files whose first block has CRs and no LF). Raises DatasetError
    naming the file when one cannot be read as a whole."""
    from pyspark.sql import functions as F

    prepare(spark)
    files = SparkFiles(spark)
    by_separator: dict[bool, list[tuple[str, str]]] = {}
    names = {}  # the base name Spark reports for a file -> (its location, its source_file)
    for uri, source_file in found:
        head = text_head(files, uri, HEAD_BYTES)
        cr_only = is_cr_only(head[len(UTF8_BOM):] if head.startswith(UTF8_BOM) else head)
        readable = _readable_uri(uri, files.head(uri, 2))
        names[readable.rsplit('/', 1)[-1]] = (uri, source_file)
        by_separator.setdefault(cr_only, []).append((readable, source_file))
    frames = []
    for cr_only, group in by_separator.items():
        lines = (spark.read.option('lineSep', '\r' if cr_only else '\n').text([readable for readable, _ in group])
                 .select('value', F.element_at(F.split(F.col('_metadata.file_path'), '/'), -1).alias('file'),
                         F.col('_metadata.file_block_start').alias('block'),
                         F.monotonically_increasing_id().alias('row_id'), F.lit(cr_only).alias('cr_only')))
        frames.append(lines)
    lines = frames[0]
    for frame in frames[1:]:
        lines = lines.unionByName(frame)
    # Lines are numbered within each file split (row ids run on within a split); the splits'
    # line counts, in file order, give each split's first line number in its file.
    try:
        blocks = (lines.groupBy('file', 'block').agg(F.count('*').alias('lines'), F.min('row_id').alias('first'),
                                                     F.max(F.octet_length('value')).alias('longest'))
                  .orderBy('file', 'block').collect())
    except Exception as error:  # Spark raises the reader's error (a broken gzip stream) here
        message = str(error).strip().splitlines()[0][:300]
        broken = next((uri for uri, _ in names.values() if uri.rsplit('/', 1)[-1] in message), None)
        where = broken or ', '.join(uri for uri, _ in names.values())
        raise DatasetError(f'{where}: not a readable {"gzip " if where.endswith(".gz") else ""}file ({message})') \
            from None
    offsets, before = [], {}
    for block in blocks:
        offsets.append((block.file, block.block, before.get(block.file, 0) - block.first + 1))
        before[block.file] = before.get(block.file, 0) + block.lines
    numbered = (lines.join(F.broadcast(spark.createDataFrame(offsets, 'file string, block long, offset long')),
                           ['file', 'block'])
                .select('file', (F.col('row_id') + F.col('offset')).alias('line_number'), 'value', 'cr_only'))
    for block in blocks:
        if block.longest > MAX_LINE_BYTES:
            line = numbered.where((F.col('file') == block.file) & (F.octet_length('value') > MAX_LINE_BYTES)) \
                .agg(F.min('line_number')).first()[0]
            raise DatasetError(f'{names[block.file][0]}, line {line}: over {MAX_LINE_BYTES} bytes without a line '
                               'break; not a CSV file of this dataset')

    text = F.col('value')
    text = F.when(~F.col('cr_only') & text.endswith('\r'), F.expr('substr(value, 1, length(value) - 1)')).otherwise(text)
    text = F.when((F.col('line_number') == 1) & text.startswith('\ufeff'), F.expr('substr(value, 2)')).otherwise(text)
    # One regular expression per line: a line in canonical form becomes its values joined by tabs
    # (no canonical value holds one); any other line comes back unchanged.
    joined = F.regexp_replace('text', f'^(?:{fast_pattern(table).pattern})\\z',
                              '\t'.join(f'${group}' for group in range(1, len(table.columns) + 1)))
    numbered = numbered.withColumn('text', text).withColumn(
        'fast', F.expr('is_valid_utf8(value)') & (joined != F.col('text'))).withColumn('joined', joined)
    fast = numbered.where('fast').select('file', F.split('joined', '\t').alias('fields')).select('file', *_typed(
        table, [F.col('fields')[index] for index in range(len(table.columns))]))

    with warnings.catch_warnings():  # careful_line's type hints are not pandas UDF hints
        warnings.simplefilter('ignore', UserWarning)
        # A plain (pickled) Python UDF: the executors need no pyarrow for it.
        careful_udf = F.udf(partial(careful_line, table), CAREFUL_SCHEMA, useArrow=False)
    # Materialised once, without the plan that made it (localCheckpoint), so the counts, the
    # rejections and the loaded rows do not run the UDF again and later queries plan quickly.
    careful = (numbered.where('not fast')
               .select('file', 'line_number', careful_udf('line_number', F.col('value').cast('binary'), 'cr_only')
                       .alias('result'))
               .select('file', 'line_number', 'result.*')
               .localCheckpoint())
    careful_rows = careful.where('values is not null').select('file', *_typed(
        table, [F.col('values')[index] for index in range(len(table.columns))]))
    loaded = fast.unionByName(careful_rows).localCheckpoint()

    loaded_counts = {row.file: row['count'] for row in loaded.groupBy('file').count().collect()}
    stats = {row.file: row for row in careful.groupBy('file').agg(
        F.count('reason').alias('rejected'), F.sum(F.size('notes')).alias('adjusted')).collect()}
    reasons: dict[str, Counter] = {}
    for row in careful.where('kind is not null').groupBy('file', 'kind').count().collect():
        reasons.setdefault(row.file, Counter())[row.kind] = row['count']
    result = []
    for name, (uri, source_file) in names.items():
        counts = LoadCounts(lines_read=before.get(name, 0))
        counts.rows_loaded = loaded_counts.get(name, 0)
        counts.rows_rejected = stats[name].rejected if name in stats else 0
        counts.values_adjusted = (stats[name].adjusted or 0) if name in stats else 0
        counts.reasons = reasons.get(name, Counter())
        mine = F.col('file') == name
        result.append(SparkLoad(
            uri, source_file, counts, loaded.where(mine).drop('file'),
            careful.where(mine & F.col('reason').isNotNull()).select(
                'line_number', F.col('raw_text').alias('raw_line'), 'reason'),
            careful.where(mine).select('line_number', F.explode('notes').alias('note')).select('line_number', 'note.*')))
    order = {source_file: index for index, (_, source_file) in enumerate(found)}
    return sorted(result, key=lambda load: order[load.source_file])


# ---------------------------------------------------------------------------------------------
# The pipeline's blocks
# ---------------------------------------------------------------------------------------------

def start_run(spark, run_variables: dict | None = None) -> lifecycle.Build:
    """Start a run of the Spark pipeline: check the settings and the input files (through
    Spark's file systems), register a build schema in Postgres with the evidence tables (no raw
    tables: raw events stay in Spark)."""
    prepare(spark)
    folder = dataset_location()
    build, _ = open_build(run_variables, folder, lambda: check_input_files(SparkFiles(spark), folder))
    with db.transaction() as conn, conn.cursor() as cursor:
        create_evidence_tables(cursor, build.schema)
    return build


def distinct_contents(files: SparkFiles, found: list[InputFile]) -> tuple[list[InputFile], dict[str, str]]:
    """The files to read, in order, and those that are byte-identical copies of an earlier one
    (relative path -> the original's), as the Postgres pipeline's manifest.decide tells re-deliveries:
    files of the same size are compared by their SHA-256."""
    by_size: dict[int, list[InputFile]] = {}
    for item in found:
        by_size.setdefault(files.size(item.location), []).append(item)
    copies, seen = {}, {}
    for group in by_size.values():
        if len(group) < 2:
            continue
        for item in group:
            digest = files.sha256(item.location)
            if digest in seen:
                copies[item.relative] = seen[digest]
            else:
                seen[digest] = item.relative
    return [item for item in found if item.relative not in copies], copies


def load_table(spark, name: str, run_variables: dict | None = None) -> pd.DataFrame:
    """Read the files of raw <name> with Spark (users.csv; user_interaction.csv, or every file of
    the folder user_interaction/, in one pass) into this run's view of raw <name>, each event row
    with the load id of its file (1, 2, ... in file order); keep each file's rejected lines,
    adjusted values and counts in the build schema in Postgres; refuse (after keeping that
    evidence) a file unfit to publish, as the Postgres pipeline does. A byte-identical copy of an
    earlier file is not read twice. Returns one row per file."""
    from pyspark.sql import functions as F

    prepare(spark)
    folder = dataset_location()
    max_share = max_rejected_share((run_variables or {}).get('max_rejected_share'))
    files = SparkFiles(spark)  # spark_start_run checked every file; they are listed again here
    table = read_ddl(files, folder)[name]
    build = lifecycle.ensure_owned()
    inputs = find_inputs(files, folder)
    found, copies = distinct_contents(files, [inputs.users] if name == 'users' else list(inputs.events))
    loads = read_files(spark, table, [(item.location, item.relative) for item in found])
    frames = [load.loaded.withColumn('load_id', F.lit(index + 1).cast('bigint')) if name != 'users' else load.loaded
              for index, load in enumerate(loads)]
    loaded = frames[0]
    for frame in frames[1:]:
        loaded = loaded.unionByName(frame)
    loaded.createOrReplaceTempView(view_name(build.schema, name))
    rejected = [load.rejected.withColumn('source_file', F.lit(load.source_file)) for load in loads]
    union = rejected[0]
    for frame in rejected[1:]:
        union = union.unionByName(frame)
    union.createOrReplaceTempView(view_name(build.schema, f'rejected_{name}'))
    rows = []
    with db.transaction() as conn:
        for load in loads:
            if not load.counts.balanced:
                raise RuntimeError(f'{load.uri}: {load.counts} does not balance; nothing committed')
            db.copy_lines(conn, build.schema, 'rejected_rows', REJECTED_COLUMNS,
                          (copy_row(load.source_file, *row) for row in load.rejected.toLocalIterator()))
            db.copy_lines(conn, build.schema, 'adjusted_values', ADJUSTED_COLUMNS,
                          (copy_row(load.source_file, *row) for row in load.adjusted.toLocalIterator()))
            with conn.cursor() as cursor:
                record_load(cursor, build.schema, build.run_id, load.source_file, folder, name, load.counts)
            rows.append({'source_file': load.source_file, 'action': 'read', 'target_table': f'raw.{name} (Spark view)',
                         'lines_read': load.counts.lines_read, 'rows_loaded': load.counts.rows_loaded,
                         'rows_rejected': load.counts.rows_rejected, 'values_adjusted': load.counts.values_adjusted})
    for load in loads:
        check_loadable(load.uri, load.counts, max_share, build.schema)
    rows += [{'source_file': copy, 'action': f're-delivery of {original}: not read'} for copy, original in copies.items()]
    return pd.DataFrame(rows)


def sample_rows(spark, name: str, limit: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first rows of this run's raw <name> view, for block previews."""
    return spark.table(view_name(lifecycle.current().schema, name)).limit(limit).toPandas()
