"""The editor's graph is the true lineage: every table a SQL block reads is the table of one of
its upstream blocks, and every upstream block is read (parsed with sqlglot)."""
import sqlglot
from sqlglot import exp

from mage_project.utils.sql_blocks import pipeline_blocks, sql_blocks

SCHEMA = 'build_lineage'
# What the Python blocks write into the build; SQL blocks write their data_provider_table.
PYTHON_TABLES = {'load_users': {'users'}, 'load_user_interaction': {'user_interaction'}}


def tables_read(query: str) -> set[str]:
    tree = sqlglot.parse_one(query, read='postgres')
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    # A schema-qualified name is a table even where a CTE has the same name (with users as (... users)).
    return {table.name for table in tree.find_all(exp.Table) if table.db or table.name not in ctes}


def test_the_check_sees_the_tables_of_a_query():
    assert tables_read('with a as (select * from s.x) select * from a join s.y on true') == {'x', 'y'}
    assert tables_read('with users as (select * from s.users) select * from users') == {'users'}


def test_every_sql_block_reads_exactly_its_upstream_blocks():
    produces = {block['uuid']: ({block['configuration']['data_provider_table']} if block['language'] == 'sql'
                                else PYTHON_TABLES.get(block['uuid'], set()))
                for block in pipeline_blocks()}
    for block in sql_blocks():
        read = tables_read(block.render(SCHEMA))
        upstream = set().union(*(produces[uuid] for uuid in block.upstream))
        assert read == upstream, f'{block.uuid} reads {sorted(read)}; its upstream blocks give {sorted(upstream)}'
