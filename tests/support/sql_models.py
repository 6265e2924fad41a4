"""Run the pipeline's SQL blocks on Postgres without Mage: given a few raw rows, build every model
in order into one build schema, as a run does (dbt's unit_tests style)."""
from __future__ import annotations

from psycopg2 import sql

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
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('create schema {}').format(sql.Identifier(SCHEMA)))
        for name, rows in (('users', users), ('user_interaction', events)):
            cursor.execute(sql.SQL('create table {}.{} ({})').format(
                sql.Identifier(SCHEMA), sql.Identifier(name), sql.SQL(tables[name].ddl())))
            for row in rows:
                cursor.execute(sql.SQL('insert into {}.{} values ({})').format(
                    sql.Identifier(SCHEMA), sql.Identifier(name), sql.SQL(', ').join(sql.Placeholder() * len(row))),
                    row)
    run_models(conn, SCHEMA, variables, until)
    conn.commit()


def rows(conn, query: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()
