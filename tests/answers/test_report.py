"""The static HTML report, on tiny tables."""
import pandas as pd

from mage_project.answers.report import render_report
from mage_project.catalog import QUESTIONS


def tiny_tables():
    answers = pd.DataFrame({
        'question_id': ['q1', 'q2', 'q3', 'q4'],
        'question': ['Which <types>?', 'Which date?', 'Which country?', 'Which age?'],
        'answer': ['VIEW', '2019-05-05', 'DE & UK tie', 'undecided'],
        'definition': ['d1', 'd2', 'd3', 'd4'],
    })
    tables = {
        'orphan_events_by_type': pd.DataFrame({'position': [1, 2], 'event_type': ['VIEW', 'EXIT'],
                                               'orphan_events': [2, 0], 'is_tied': [False, False]}),
        'duplicate_events_by_date': pd.DataFrame({'position': [1, 2, 3], 'event_date': ['2019-05-05', '2019-05-06', '2019-05-07'],
                                                  'surplus_copies': [2, 0, 0], 'is_tied': [False, True, True]}),
        'visitors_by_country': pd.DataFrame({'position': [2, 1], 'country': ['UK', 'DE'], 'visitors': [2, 2],
                                             'is_tied': [True, True]}),
        'valuable_users_by_age_group': pd.DataFrame({'position': [1], 'age_group': ['46-80'], 'valuable_users': [1],
                                                     'question_age_group': ['both'], 'is_tied': [False]}),
    }
    return answers, tables


def test_report_has_each_question_with_its_chart_and_escapes_text():
    answers, tables = tiny_tables()
    page = render_report(answers, tables, 'users.csv: 4 lines')
    assert page.count('<svg') == len(QUESTIONS) == 4
    assert 'Which &lt;types&gt;?' in page and 'DE &amp; UK tie' in page
    assert '46-80 → straddles 18-49 and 50-80' in page


def test_ties_are_marked_and_rows_follow_their_position():
    answers, tables = tiny_tables()
    page = render_report(answers, tables, '')
    q3 = page[page.index('Q3.'):page.index('Q4.')]
    assert q3.index('>DE<') < q3.index('>UK<') and q3.count('(tie)') == 2


def test_dates_without_duplicates_are_not_drawn_but_counted():
    answers, tables = tiny_tables()
    q2 = render_report(answers, tables, '').split('Q2.')[1].split('Q3.')[0]
    assert '2019-05-06' not in q2 and '2 more rows (not drawn)' in q2
