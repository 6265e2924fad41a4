-- analytics.duplicate_events_by_date: one row per event date.
-- Q2 definition: a duplicate is an exact copy of an event row (all four columns equal);
-- surplus_copies counts the copies beyond the first, on the date of the event.
-- Ranked by surplus_copies, ties broken by the earlier date; is_tied marks dates that share
-- their surplus_copies count with another date.
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with events as (
    select event_date, copy_number
    from {{ build }}.stg_user_interaction
),

by_date as (
    select
        event_date,
        count(*) as event_rows,
        count(*) filter (where copy_number = 1) as distinct_events,
        count(*) filter (where copy_number > 1) as surplus_copies
    from events
    group by event_date
),

final as (
    select
        row_number() over (order by surplus_copies desc, event_date)::int as rank,
        event_date,
        surplus_copies,
        distinct_events,
        event_rows,
        count(*) over (partition by surplus_copies) > 1 as is_tied
    from by_date
)

select * from final order by rank
