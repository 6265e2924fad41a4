"""A database of the tests' Postgres, and what the tests read from it."""
from __future__ import annotations

from dataclasses import dataclass

import psycopg2

from mage_project.catalog import published_by
from tests.support.processes import wait_until

CONNECTION_VARIABLES = ('POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_USER', 'POSTGRES_PASSWORD')
PUBLISHED = tuple(f'{layer}.{name}' for layer, names in published_by(None).items() for name in names)


@dataclass
class Database:
    env: dict[str, str]

    def connect(self):
        return psycopg2.connect(
            host=self.env['POSTGRES_HOST'], port=self.env['POSTGRES_PORT'],
            user=self.env['POSTGRES_USER'], password=self.env['POSTGRES_PASSWORD'],
            dbname=self.env['POSTGRES_DB'],
        )

    def admin(self):
        """A connection to the server's postgres database, in autocommit."""
        conn = psycopg2.connect(
            host=self.env['POSTGRES_HOST'], port=self.env['POSTGRES_PORT'], user=self.env['POSTGRES_USER'],
            password=self.env['POSTGRES_PASSWORD'], dbname=self.env['POSTGRES_DB'])
        conn.autocommit = True
        return conn

    def rows(self, query: str, params=None) -> list[tuple]:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()


# Columns that say which load a row came from: a file loaded again gets a new load with its rows.
LOAD_COLUMNS = ('load_id',)


def snapshot(database) -> dict[str, list]:
    """Every published table's rows, without the columns that name their load (load_audit: its
    file and counts)."""
    tables = {}
    for name in PUBLISHED:
        if name == 'raw.load_audit':
            query = 'select source_file, lines_read, rows_loaded, rows_rejected from raw.load_audit'
        else:
            schema, table = name.split('.')
            columns = [column for (column,) in database.rows(
                'select column_name from information_schema.columns where table_schema = %s and table_name = %s '
                'order by ordinal_position', (schema, table)) if column not in LOAD_COLUMNS]
            query = f'select {", ".join(columns) or "*"} from {name}'
        tables[name] = sorted(database.rows(query), key=repr)
    return tables


def published_tables(database) -> dict[str, dict]:
    """The analytics tables in the shape of truths.json."""
    return {
        'orphan_events_by_type': dict(database.rows(
            'select event_type, orphan_events from analytics.orphan_events_by_type where orphan_events > 0')),
        'duplicate_events_by_date': {d.isoformat(): n for d, n in database.rows(
            'select event_date, surplus_copies from analytics.duplicate_events_by_date where surplus_copies > 0')},
        'visitors_by_country': {c: {'visitors': v, 'events': e} for c, v, e in database.rows(
            'select country, visitors, events from analytics.visitors_by_country where visitors > 0')},
        'valuable_users_by_age_group': dict(database.rows(
            'select age_group, valuable_users from analytics.valuable_users_by_age_group where valuable_users > 0')),
    }


def answers(database) -> dict[str, str]:
    return dict(database.rows('select question_id, answer from analytics.answers'))


def wait_for(database, query, timeout=120):
    """The first value of ``query`` once it is truthy (a table it reads may not exist yet)."""
    def value():
        try:
            return (database.rows(query) or [(None,)])[0][0]
        except psycopg2.errors.UndefinedTable:
            return None

    return wait_until(value, timeout, query)
