"""analytics.answers: written by the answers block from a run's question tables."""
from __future__ import annotations

import pandas as pd
from psycopg2 import sql

from mage_project.answers.sentences import Conflicts, answers_frame
from mage_project.catalog import QUESTION_TABLES, Numbers
from mage_project.core import db


def build_answers(conn, schema: str, numbers: Numbers) -> pd.DataFrame:
    """Read the question tables and the summary of users with conflicting lines (conflicting_users)
    from the build ``schema``, write its answers table, with the run's ``numbers``, and return it.
    Both pipelines (Postgres and Spark) build these tables, so the answers are the same code."""
    build = sql.Identifier(schema)
    tables = {name: db.fetch_frame(conn, sql.SQL('select * from {}.{}').format(build, sql.Identifier(name)))
              for name in QUESTION_TABLES}
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('select users, visitors, valuable_users from {}.conflicting_users').format(build))
        conflicts = Conflicts(*cursor.fetchone())
    answers = answers_frame(tables, conflicts, numbers)
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('drop table if exists {}.answers').format(build))
        cursor.execute(sql.SQL('create table {}.answers (question_id text primary key, question text not null, '
                               'answer text not null, definition text not null)').format(build))
        cursor.executemany(sql.SQL('insert into {}.answers values (%s, %s, %s, %s)').format(build),
                           answers[['question_id', 'question', 'answer', 'definition']].values.tolist())
    return answers
