"""Data contracts checked on a run's build schema before it is published. A failed contract
stops the run, so the previous run's tables stay in place."""
from __future__ import annotations

from psycopg2 import sql

# (layer it is published in, table, primary key, whether the table carries a rank column); every
# table is in the run's one build schema until it is published.
TABLES = (
    ('staging', 'stg_users', 'user_id', False),
    ('staging', 'user_activity', 'user_id', False),
    ('analytics', 'orphan_events_by_type', 'event_type', True),
    ('analytics', 'duplicate_events_by_date', 'event_date', True),
    ('analytics', 'visitors_by_country', 'country', True),
    ('analytics', 'valuable_users_by_age_group', 'age_group', True),
    ('analytics', 'answers', 'question_id', False),
)

# Totals that must agree, computed with one scan of each large table: (description, left, right).
# The Spark pipeline runs the same query on Spark (spark_models.py), where its raw and staging
# tables are.
TOTALS = """
select
    raw_events, staging.rows,
    staging.orphans, (select coalesce(sum(orphan_events), 0) from {build}.orphan_events_by_type),
    staging.copies, (select coalesce(sum(surplus_copies), 0) from {build}.duplicate_events_by_date),
    (select coalesce(sum(lines_read), 0) from {build}.load_audit),
    raw_events + (select count(*) from {build}.users) + (select count(*) from {build}.rejected_rows)
from (select count(*) as raw_events from {build}.user_interaction) as raw,
     (select count(*) as rows, count(*) filter (where is_orphan) as orphans,
             count(*) filter (where is_duplicate_copy) as copies
      from {build}.stg_user_interaction) as staging
"""
_TOTAL_CHECKS = (
    'every raw event row reaches staging',
    'orphan counts add up to the orphan rows in staging',
    'surplus copies add up to the duplicate rows in staging',
    'every input line is loaded or rejected',
)


def failed_totals(totals: tuple) -> list[str]:
    """The broken contracts among the TOTALS query's row."""
    return [f'{description}: {expected} vs {actual}'
            for description, expected, actual in zip(_TOTAL_CHECKS, totals[0::2], totals[1::2]) if expected != actual]


def failed_contracts(conn, build_schema: str, published: dict | None = None) -> list[str]:
    """Every broken contract of the build in ``build_schema``, as a sentence; empty when the
    build may be published. ``published`` (builds.published_by) limits the checks to the tables
    the build publishes; the totals need its raw and staging tables."""
    failures = []
    build = sql.Identifier(build_schema)
    with conn.cursor() as cursor:
        for layer, table, key, ranked in TABLES:
            if published is not None and table not in published.get(layer, ()):
                continue
            name = sql.SQL('{}.{}').format(build, sql.Identifier(table))
            cursor.execute(sql.SQL(
                'select count(*), count(distinct {key}), count({key}) from {name}'
            ).format(key=sql.Identifier(key), name=name))
            rows, distinct, not_null = cursor.fetchone()
            if distinct != rows or not_null != rows:
                failures.append(f'{layer}.{table}.{key} must be unique and not null: '
                                f'{rows} rows, {distinct} distinct, {rows - not_null} null')
            if ranked:
                cursor.execute(sql.SQL(
                    'select count(*) filter (where rank is null), count(distinct rank), '
                    'coalesce(min(rank), 1), coalesce(max(rank), 0) from {}').format(name))
                nulls, distinct_ranks, low, high = cursor.fetchone()
                if nulls or distinct_ranks != rows or low != 1 or high != rows:
                    failures.append(f'{layer}.{table}.rank must run 1..{rows} without gaps or ties')
        if published is None or 'user_interaction' in published.get('raw', ()):
            cursor.execute(sql.SQL(TOTALS).format(build=build))
            failures += failed_totals(cursor.fetchone())
        cursor.execute(sql.SQL(
            "select string_agg(question_id, ',' order by question_id), "
            "count(*) filter (where answer is null or answer = '') from {}.answers"
        ).format(build))
        ids, empty = cursor.fetchone()
        if ids != 'q1,q2,q3,q4' or empty:
            failures.append(f'analytics.answers must answer q1..q4: has {ids}, {empty} empty')
    return failures
