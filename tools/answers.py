"""`make answers`: what the last published run loaded, and its answers.

    python -m tools.answers
"""
from __future__ import annotations

import textwrap

from mage_project.core import db
from mage_project.core.settings import report_path, use_project_environment


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
