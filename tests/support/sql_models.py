"""Run the pipeline's SQL blocks on Postgres without Mage: given a few raw rows, build every model
in order into one build schema, as a run that starts from nothing does (dbt's unit_tests style)."""
from __future__ import annotations

from psycopg2 import sql

from mage_project.builds.state import base_columns
from mage_project.ingest.ddl import parse_ddl
from mage_project.models.sql import run_models
from tests.support.project import REPO

SCHEMA = 'build_test'
T = '2019-07-04 10:00:00'  # the time of an event whose time does not matter


def build(conn, users: list[tuple], events: list[tuple], until: str | None = None,
          variables: dict | None = None) -> None:
    """Load ``users`` (user_id, age, country) and ``events`` (event_id, user_id, event_type,
    event_time) into build_test and build the SQL models up to and including ``until``, with the
    pipeline's variables (``variables`` over them), as the run whose build it is would."""
    tables = parse_ddl(REPO / 'dataset' / 'tables.sql')
    schema = sql.Identifier(SCHEMA)
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('create schema {}').format(schema))
        for name, rows in (('users', users), ('user_interaction', events)):
            cursor.execute(sql.SQL('create table {}.{} ({}, load_id bigint not null default 1)').format(
                schema, sql.Identifier(name), sql.SQL(tables[name].ddl())))
            for row in rows:
                cursor.execute(sql.SQL('insert into {}.{} ({}) values ({})').format(
                    schema, sql.Identifier(name), sql.SQL(', ').join(map(sql.Identifier, tables[name].column_names)),
                    sql.SQL(', ').join(sql.Placeholder() * len(row))), row)
        # A run that starts from nothing: its one load added, no published state (state.prepare_inputs).
        cursor.execute(sql.SQL('create table {}.load_changes as select 1::bigint as load_id, 1 as change').format(schema))
        cursor.execute(sql.SQL('create table {}.run_inputs as select true as users_changed, false as has_base')
                       .format(schema))
        for name, columns in base_columns(tables).items():
            cursor.execute(sql.SQL('create table {}.{} ({})').format(schema, sql.Identifier(name), sql.SQL(columns)))
    run_models(conn, SCHEMA, variables, until)
    conn.commit()


def rows(conn, query: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()
