"""Print analytics.answers of the last published run: `python -m mage_project.utils.answers`."""
from __future__ import annotations

import textwrap

from mage_project.utils import db


def main() -> None:
    with db.transaction(application_name='answers') as conn:
        answers = db.fetch_frame(conn, 'select * from analytics.answers order by question_id')
    for row in answers.itertuples():
        print(f'\n{row.question_id}. {row.question}')
        print(textwrap.fill(row.answer, width=100, initial_indent='   ', subsequent_indent='   '))
        print(textwrap.fill(f'({row.definition})', width=100, initial_indent='   ', subsequent_indent='   '))


if __name__ == '__main__':
    main()
