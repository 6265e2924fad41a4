"""The pipeline's SQL blocks outside Mage: their order, tables and queries, rendered as Mage renders
them (``variables()`` reads the pipeline's variables and the run's), and run into a build schema.

A block names the tables of its run by their bare names (``from stg_users``): every connection of
a run has the run's build schema first on its search_path (lifecycle.begin sets it for the whole
process, Mage's SQL blocks included), so a block reads its upstream blocks' tables in its own run's
build, and only there. Used by the SQL unit tests, the Spark pipeline and the benchmark floor.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from psycopg2 import sql

from mage_project.catalog import PIPELINE, PROJECT_DIR, default_variables, pipeline_metadata


@dataclass(frozen=True)
class SqlBlock:
    uuid: str
    table: str
    upstream: tuple[str, ...]
    path: Path

    def render(self, variables: dict | None = None) -> str:
        """The block's query, with the pipeline's variables (``variables`` over them) as Mage gives
        them to ``variables()``; a variable the pipeline does not have is an error, not an empty
        value."""
        values = {**default_variables(), **(variables or {})}

        def variable(name: str, parse=None):
            if name not in values:
                raise KeyError(f'{self.path.name} reads the variable {name}, which the pipeline does not have')
            return values[name]

        template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(self.path.read_text())
        return template.render(variables=variable)


def pipeline_blocks(pipeline: str = PIPELINE) -> list[dict]:
    """The blocks of a pipeline's metadata.yaml, in pipeline order."""
    return pipeline_metadata(pipeline)['blocks']


def block_uuids(pipeline: str = PIPELINE) -> list[str]:
    return [block['uuid'] for block in pipeline_blocks(pipeline)]


def sql_blocks(pipeline: str = PIPELINE) -> list[SqlBlock]:
    """Every SQL block of the pipeline, in pipeline order."""
    return [SqlBlock(b['uuid'], b['configuration']['data_provider_table'], tuple(b['upstream_blocks']),
                     PROJECT_DIR / 'transformers' / f'{b["uuid"]}.sql')
            for b in pipeline_blocks(pipeline) if b['language'] == 'sql']


def build_statements(variables: dict | None = None, pipeline: str = PIPELINE) -> list[tuple[SqlBlock, str]]:
    """(block, query) for every SQL block, rendered, in order."""
    return [(block, block.render(variables)) for block in sql_blocks(pipeline)]


def run_models(conn, schema: str, variables: dict | None = None, until: str | None = None,
               pipeline: str = PIPELINE) -> list[str]:
    """Run the SQL blocks, in order and up to ``until`` (all by default), on ``conn`` into tables of
    ``schema``, as Mage's SQL blocks do in a run whose build it is (the run's search_path is set for
    this transaction only). Returns the tables made."""
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('set local search_path = {}, pg_catalog').format(sql.Identifier(schema)))
        made = []
        for block, query in build_statements(variables, pipeline):
            cursor.execute(sql.SQL('drop table if exists {}').format(sql.Identifier(schema, block.table)))
            cursor.execute(sql.SQL('create table {} as {}').format(sql.Identifier(schema, block.table), sql.SQL(query)))
            made.append(block.table)
            if block.uuid == until:
                break
    return made
