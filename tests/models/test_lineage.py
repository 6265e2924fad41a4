"""The editor's graph is the true lineage: every table a SQL block reads is the table of one of
its upstream blocks, and every upstream block is read (parsed with sqlglot, whose scopes tell an
import CTE from the table of the same name it reads)."""
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from mage_project.catalog import BASE_INPUTS, INPUTS
from mage_project.models.sql import pipeline_blocks, sql_blocks

# What the Python blocks write into the build; SQL blocks write their data_provider_table.
PYTHON_TABLES = {'load_users': {'users'}, 'select_changes': set(INPUTS) - {'users'} | set(BASE_INPUTS)}


def tables_read(query: str) -> set[str]:
    """The tables ``query`` reads: its sources that are not its own CTEs or subqueries."""
    tree = sqlglot.parse_one(query, read='postgres')
    return {source.name for scope in traverse_scope(tree) for _, source in scope.selected_sources.values()
            if isinstance(source, exp.Table)}


def test_the_check_sees_the_tables_of_a_query():
    assert tables_read('with a as (select * from x) select * from a join y on true') == {'x', 'y'}
    assert tables_read('with users as (select * from users) select * from users') == {'users'}
    assert tables_read('with a as (select * from x), b as (select * from a) select * from b') == {'x'}


def test_every_sql_block_reads_exactly_its_upstream_blocks():
    produces = {block['uuid']: ({block['configuration']['data_provider_table']} if block['language'] == 'sql'
                                else PYTHON_TABLES.get(block['uuid'], set()))
                for block in pipeline_blocks()}
    for block in sql_blocks():
        read = tables_read(block.render())
        upstream = set().union(*(produces[uuid] for uuid in block.upstream))
        assert read <= upstream, f'{block.uuid} reads {sorted(read - upstream)}, which no upstream block gives'
        unread = [uuid for uuid in block.upstream if not produces[uuid] & read]
        assert not unread, f'{block.uuid} reads nothing of its upstream blocks {unread}'
