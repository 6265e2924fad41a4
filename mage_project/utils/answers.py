"""analytics.answers: written by the answers block from the run's analytics tables, and printed
for people by `python -m mage_project.utils.answers` (what the last published run loaded, and
its answers)."""
from __future__ import annotations

import textwrap

import pandas as pd
from psycopg2 import sql

from mage_project.utils import builds, db
from mage_project.utils.sentences import Conflicts, answers_frame
from mage_project.utils.settings import report_path, use_project_environment

QUESTION_TABLES = ('orphan_events_by_type', 'duplicate_events_by_date', 'visitors_by_country',
                   'valuable_users_by_age_group')


def build_answers() -> pd.DataFrame:
    """Read this run's question tables and the summary of users with conflicting lines
    (conflicting_users) from its build schema, write the build's answers table and return it.
    Both pipelines (Postgres and Spark) build these tables, so the answers are the same code."""
    build = sql.Identifier(builds.ensure_owned().schema)
    with db.transaction() as conn:
        tables = {name: db.fetch_frame(conn, sql.SQL('select * from {}.{}').format(build, sql.Identifier(name)))
                  for name in QUESTION_TABLES}
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL('select users, visitors, valuable_users from {}.conflicting_users').format(build))
            conflicts = Conflicts(*cursor.fetchone())
        answers = answers_frame(tables, conflicts)
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL('drop table if exists {}.answers').format(build))
            cursor.execute(sql.SQL('create table {}.answers (question_id text primary key, question text not null, '
                                   'answer text not null, definition text not null)').format(build))
            cursor.executemany(sql.SQL('insert into {}.answers values (%s, %s, %s, %s)').format(build),
                               answers[['question_id', 'question', 'answer', 'definition']].values.tolist())
    return answers


def main() -> None:
    use_project_environment()
    with db.transaction(application_name='answers') as conn:
        audit = db.fetch_frame(conn, 'select * from raw.load_audit order by source_file desc')
        answers = db.fetch_frame(conn, 'select * from analytics.answers order by question_id')
    print(f'\nLoaded from {audit.dataset_dir.iloc[0]}:')
    for row in audit.itertuples():
        print(f'   {row.source_file}: {row.lines_read} lines, {row.rows_loaded} loaded, '
              f'{row.rows_rejected} rejected (see raw.rejected_rows)')
    for row in answers.itertuples():
        print(f'\n{row.question_id}. {row.question}')
        print(textwrap.fill(row.answer, width=100, initial_indent='   ', subsequent_indent='   '))
        print(textwrap.fill(f'({row.definition})', width=100, initial_indent='   ', subsequent_indent='   '))
    print(f'\nReport with charts: {report_path()}')


if __name__ == '__main__':
    main()
