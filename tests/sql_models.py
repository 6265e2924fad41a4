"""Run the pipeline's SQL blocks on Postgres without Mage: given a few raw rows, build every model
of metadata.yaml in order into the build schemas, as the pipeline does (dbt's unit_tests style)."""
from __future__ import annotations

import yaml
from psycopg2 import sql

from mage_project.utils.dataset import parse_ddl
from tests.conftest import PIPELINE, REPO

METADATA = REPO / 'mage_project' / 'pipelines' / PIPELINE / 'metadata.yaml'


def sql_blocks() -> list[tuple[str, str, str]]:
    """(block uuid, schema, table) of every SQL block, in pipeline order."""
    blocks = yaml.safe_load(METADATA.read_text())['blocks']
    return [(b['uuid'], b['configuration']['data_provider_schema'], b['configuration']['data_provider_table'])
            for b in blocks if b['language'] == 'sql']


def build(conn, users: list[tuple], events: list[tuple], until: str | None = None) -> None:
    """Load ``users`` (user_id, age, country) and ``events`` (event_id, user_id, event_type,
    event_time) into raw_build and build the SQL models up to and including ``until``."""
    tables = parse_ddl(REPO / 'dataset' / 'tables.sql')
    with conn.cursor() as cursor:
        for layer in ('raw', 'staging', 'analytics'):
            cursor.execute(sql.SQL('create schema {}').format(sql.Identifier(f'{layer}_build')))
        for name, rows in (('users', users), ('user_interaction', events)):
            cursor.execute(sql.SQL('create table raw_build.{} ({})').format(
                sql.Identifier(name), sql.SQL(tables[name].ddl())))
            for row in rows:
                cursor.execute(sql.SQL('insert into raw_build.{} values ({})').format(
                    sql.Identifier(name), sql.SQL(', ').join(sql.Placeholder() * len(row))), row)
        for block, schema, table in sql_blocks():
            query = (REPO / 'mage_project' / 'transformers' / f'{block}.sql').read_text()
            cursor.execute(sql.SQL('create table {}.{} as {}').format(
                sql.Identifier(schema), sql.Identifier(table), sql.SQL(query)))
            if block == until:
                break
    conn.commit()


def rows(conn, query: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()
