"""Data contracts checked on a run's build schema before it is published. A failed contract
stops the run, so the previous run's tables stay in place. The tables, their keys and which are
ranked come from the catalog."""
from __future__ import annotations

from psycopg2 import sql

from mage_project.catalog import MODELS, QUESTION_IDS
from mage_project.core import db

# Totals that must agree, each over what the run changed or the small tables: (description, left,
# right). The build's tables are named bare (the run's search_path), so the Spark pipeline runs the
# same query on Spark (spark/models.py), where its inputs and models are. load_audit is every load
# published after the run.
TOTALS = """
select
    (select count(*) from user_interaction),
    (select count(*) from stg_user_interaction),
    (select coalesce(sum(l.change), 0) from stg_user_interaction as s inner join load_changes as l
        on s.load_id = l.load_id),
    (select coalesce(sum(copies - copies_before), 0) from int_event_copy_changes),
    (select coalesce(sum(event_rows), 0) from duplicate_events_by_date),
    (select coalesce(sum(events), 0) from orphan_events_by_type),
    (select coalesce(sum(rows_loaded), 0) from load_audit where target_table = 'raw.user_interaction'),
    (select coalesce(sum(event_rows), 0) from duplicate_events_by_date),
    0,
    (select count(*) from orphan_events_by_type where orphan_events < 0 or orphan_events > events)
    + (select count(*) from duplicate_events_by_date where surplus_copies < 0 or distinct_events < 1),
    (select coalesce(sum(lines_read), 0) from load_audit),
    (select coalesce(sum(rows_loaded + rows_rejected), 0) from load_audit),
    (select count(*) from int_users where (select users_changed from run_inputs))
    + (select count(*) from base_int_users where not (select users_changed from run_inputs)),
    (select coalesce(sum(users), 0) from visitors_by_country) + (select coalesce(sum(users), 0) from conflicting_users)
"""
_TOTAL_CHECKS = (
    'every event row of the loads the run adds or retires reaches staging',
    'the copies of the events change by the rows the run adds and retires',
    'the events counted by date are those counted by type',
    'the events counted are the rows of the published files',
    'no orphan count is below 0 or above its type\'s events, no date has negative surplus copies',
    'every input line is loaded or rejected',
    'every user of users is counted once, by country or as conflicting',
)


def failed_totals(totals: tuple) -> list[str]:
    """The broken contracts among the TOTALS query's row."""
    return [f'{description}: {expected} vs {actual}'
            for description, expected, actual in zip(_TOTAL_CHECKS, totals[0::2], totals[1::2]) if expected != actual]


def _failed_keys(cursor, build_schema: str, in_build: set[str]) -> list[str]:
    """The broken keys of the build's keyed tables, and the positions of its ranked ones."""
    failures = []
    for model in MODELS:
        if model.key is None or model.name not in in_build:
            continue
        label = f'{model.layer}.{model.name}' if model.layer else model.name
        name = sql.Identifier(build_schema, model.name)
        key = sql.SQL(', ').join(map(sql.Identifier, model.key))
        cursor.execute(sql.SQL(
            'select count(*), (select count(*) from (select distinct {key} from {name}) as keys), '
            'count(*) filter (where not ({not_null})) from {name}'
        ).format(key=key, name=name, not_null=sql.SQL(' and ').join(
            sql.SQL('{} is not null').format(sql.Identifier(column)) for column in model.key)))
        rows, distinct, nulls = cursor.fetchone()
        if distinct != rows or nulls:
            failures.append(f'{label} ({", ".join(model.key)}) must be unique and not null: '
                            f'{rows} rows, {distinct} distinct, {nulls} with a null')
        if model.ranked:
            cursor.execute(sql.SQL(
                'select count(*) filter (where position is null), count(distinct position), '
                'coalesce(min(position), 1), coalesce(max(position), 0) from {}').format(name))
            nulls, distinct_positions, low, high = cursor.fetchone()
            if nulls or distinct_positions != rows or low != 1 or high != rows:
                failures.append(f'{label}.position must run 1..{rows} without gaps or ties')
    return failures


def failed_contracts(conn, build_schema: str, published: dict) -> list[str]:
    """Every broken contract of the build in ``build_schema``, as a sentence; empty when the
    build may be published: the keys of its keyed tables, the positions of the ranked ones, the
    totals (for a pipeline that publishes raw events), the answers."""
    failures = []
    build = sql.Identifier(build_schema)
    with conn.cursor() as cursor:
        cursor.execute("select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                       "where n.nspname = %s and c.relkind = 'r'", (build_schema,))
        in_build = {row[0] for row in cursor.fetchall()}
        # The keys are counted by sorting, not hashing: a key check of the 6M rows of
        # int_user_event_changes (40M events) ran for over 7 minutes at full CPU as a hash
        # aggregate, spilling, where a sort takes 1.5 s; a sort's time does not hang on estimates.
        with db.local_setting(cursor, 'enable_hashagg', 'off'):
            failures += _failed_keys(cursor, build_schema, in_build)
        if 'user_interaction' in published.get('raw', ()):
            cursor.execute(sql.SQL('set local search_path = {}, pg_catalog').format(build))
            cursor.execute(TOTALS)
            failures += failed_totals(cursor.fetchone())
            cursor.execute('reset search_path')
        cursor.execute(sql.SQL(
            "select coalesce(string_agg(question_id, ',' order by question_id), ''), "
            "count(*) filter (where answer is null or answer = '') from {}.answers"
        ).format(build))
        ids, empty = cursor.fetchone()
        if ids != ','.join(QUESTION_IDS) or empty:
            failures.append(f'analytics.answers must answer {", ".join(QUESTION_IDS)}: has {ids}, {empty} empty')
    return failures
