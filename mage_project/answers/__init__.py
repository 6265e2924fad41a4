"""answers: from the question tables to what people read.

- sentences: each answer as a sentence that names ties, mismatches and what was left out
- write: analytics.answers
- charts: one chart per question (the editor's widgets and the report)
- report: the HTML report
"""
