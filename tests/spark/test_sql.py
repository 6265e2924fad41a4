"""The SQL blocks' translation to Spark SQL, without Spark: every block translates (sqlglot
raises on what it cannot), reads only this run's views, and the named rewrites do what they say.
tests/spark runs the translated blocks and compares their rows with Postgres."""
import re

import pytest
import sqlglot
from sqlglot import exp

from mage_project.spark.sql import spark_blocks, to_spark


def view(name: str) -> str:
    return f'run__{name}'


@pytest.mark.parametrize('block, query', spark_blocks(), ids=lambda value: getattr(value, 'uuid', ''))
def test_every_block_translates_and_reads_only_views(block, query):
    spark_sql = to_spark(query, view)
    tree = sqlglot.parse_one(spark_sql, read='spark')
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    tables = {table.name for table in tree.find_all(exp.Table)} - ctes
    assert tables and all(name.startswith('run__') for name in tables), tables
    assert not any(table.db for table in tree.find_all(exp.Table))
    code = tree.sql('spark', comments=False).upper()
    assert 'MATERIALIZED' not in code and 'REGEXP_MATCH' not in code and 'COLLATE' not in code


def test_regexp_match_becomes_one_extract_per_group_or_null():
    spark_sql = to_spark("select regexp_match(age, '^(\\d+)(?:-(\\d+))?$')[2] as b from users", view)
    assert re.search(r"CASE WHEN age RLIKE '.*' THEN ARRAY\(NULLIF\(REGEXP_EXTRACT\(age, '.*'\), ''\), "
                     r"NULLIF\(REGEXP_EXTRACT\(age, '.*', 2\), ''\)\) END\[1\]", spark_sql), spark_sql


def test_byte_order_is_spark_s_own_and_any_other_collation_is_refused():
    assert to_spark('select event_id collate "C" as event_id from events', view) == \
        'SELECT event_id AS event_id FROM run__events AS events'
    with pytest.raises(sqlglot.errors.UnsupportedError, match='only collate "C"'):
        to_spark('select country collate "de_DE" as country from users', view)


def test_a_construct_spark_lacks_is_an_error_not_a_silent_change():
    with pytest.raises(sqlglot.errors.UnsupportedError):
        to_spark("select regexp_match(age, pattern) from users", view)


def test_a_table_named_with_its_schema_is_refused():
    """A block reads its run's tables by their bare names; a schema of its own would read the same
    table whatever the run, so the translation refuses it rather than guess."""
    with pytest.raises(sqlglot.errors.UnsupportedError, match='raw.users: a block reads its run'):
        to_spark('select age from raw.users', view)
