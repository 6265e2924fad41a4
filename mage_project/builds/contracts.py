"""Data contracts checked on a run's build schema before it is published. A failed contract
stops the run, so the previous run's tables stay in place. The tables, their keys and which are
ranked come from the catalog."""
from __future__ import annotations

from psycopg2 import sql

from mage_project.catalog import MODELS, QUESTION_IDS

# Totals that must agree, computed with one scan of each large table: (description, left, right).
# The build's tables are named bare (the run's search_path), so the Spark pipeline runs the same
# query on Spark (spark/models.py), where its raw, staging and intermediate tables are.
TOTALS = """
select
    raw.events, staged.events,
    raw.events, copies.events,
    orphans.events, (select coalesce(sum(orphan_events), 0) from orphan_events_by_type),
    copies.surplus, (select coalesce(sum(surplus_copies), 0) from duplicate_events_by_date),
    (select coalesce(sum(lines_read), 0) from load_audit),
    raw.events + (select count(*) from users) + (select count(*) from rejected_rows)
from (select count(*) as events from user_interaction) as raw,
     (select count(*) as events from stg_user_interaction) as staged,
     (select coalesce(sum(copies), 0) as events, coalesce(sum(copies) - count(*), 0) as surplus
      from int_event_copies) as copies,
     (select coalesce(sum(events.event_rows), 0) as events
      from int_user_events as events
      left join int_users as known on events.user_id = known.user_id
      where known.user_id is null) as orphans
"""
_TOTAL_CHECKS = (
    'every raw event row reaches staging',
    'every raw event row is a copy of a distinct event',
    'orphan counts add up to the orphan rows',
    'surplus copies add up to the duplicate rows',
    'every input line is loaded or rejected',
)


def failed_totals(totals: tuple) -> list[str]:
    """The broken contracts among the TOTALS query's row."""
    return [f'{description}: {expected} vs {actual}'
            for description, expected, actual in zip(_TOTAL_CHECKS, totals[0::2], totals[1::2]) if expected != actual]


def failed_contracts(conn, build_schema: str, published: dict) -> list[str]:
    """Every broken contract of the build in ``build_schema``, as a sentence; empty when the
    build may be published. ``published`` (catalog.published_by) limits the checks to the tables
    the build publishes; the totals need its raw, staging and intermediate tables."""
    failures = []
    build = sql.Identifier(build_schema)
    with conn.cursor() as cursor:
        for model in MODELS:
            if model.key is None or model.name not in published.get(model.layer, ()):
                continue
            name = sql.Identifier(build_schema, model.name)
            key = sql.SQL(', ').join(map(sql.Identifier, model.key))
            cursor.execute(sql.SQL(
                'select count(*), (select count(*) from (select distinct {key} from {name}) as keys), '
                'count(*) filter (where not ({not_null})) from {name}'
            ).format(key=key, name=name, not_null=sql.SQL(' and ').join(
                sql.SQL('{} is not null').format(sql.Identifier(column)) for column in model.key)))
            rows, distinct, nulls = cursor.fetchone()
            if distinct != rows or nulls:
                failures.append(f'{model.layer}.{model.name} ({", ".join(model.key)}) must be unique and not null: '
                                f'{rows} rows, {distinct} distinct, {nulls} with a null')
            if model.ranked:
                cursor.execute(sql.SQL(
                    'select count(*) filter (where position is null), count(distinct position), '
                    'coalesce(min(position), 1), coalesce(max(position), 0) from {}').format(name))
                nulls, distinct_positions, low, high = cursor.fetchone()
                if nulls or distinct_positions != rows or low != 1 or high != rows:
                    failures.append(f'{model.layer}.{model.name}.position must run 1..{rows} without gaps or ties')
        if 'user_interaction' in published.get('raw', ()):
            cursor.execute(sql.SQL('set local search_path = {}, pg_catalog').format(build))
            cursor.execute(TOTALS)
            failures += failed_totals(cursor.fetchone())
        cursor.execute(sql.SQL(
            "select coalesce(string_agg(question_id, ',' order by question_id), ''), "
            "count(*) filter (where answer is null or answer = '') from {}.answers"
        ).format(build))
        ids, empty = cursor.fetchone()
        if ids != ','.join(QUESTION_IDS) or empty:
            failures.append(f'analytics.answers must answer {", ".join(QUESTION_IDS)}: has {ids}, {empty} empty')
    return failures
