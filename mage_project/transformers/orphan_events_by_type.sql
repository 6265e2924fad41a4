-- analytics.orphan_events_by_type: one row per event type.
-- Q1 definition: an orphan event is an event row whose user_id is not in users, counted as
-- logged (exact duplicate copies included, since each copy was logged with the wrong id).
-- Ranked by orphan_events, ties broken by orphan_share, then event_type; is_tied marks types
-- that share their orphan_events count with another type.
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with events as (
    select event_type, is_orphan
    from {{ build }}.stg_user_interaction
),

by_type as (
    select
        event_type,
        count(*) filter (where is_orphan) as orphan_events,
        count(*) as events
    from events
    group by event_type
),

final as (
    select
        row_number() over (
            order by orphan_events desc, orphan_events::numeric / events desc, event_type
        )::int as rank,
        event_type,
        orphan_events,
        events,
        round(orphan_events::numeric / events, 4) as orphan_share,
        count(*) over (partition by orphan_events) > 1 as is_tied
    from by_type
)

select * from final order by rank
