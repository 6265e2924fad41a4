-- analytics.duplicate_events_by_date: one row per event date.
-- Q2 definition: a duplicate is an exact copy of an event row (all four columns equal);
-- surplus_copies counts the copies beyond the first, on the date of the event.
-- position orders the dates by surplus_copies, ties broken by the earlier date; is_tied marks
-- dates that share their surplus_copies count with another date.
-- Kept up to date incrementally: the published counts (base_duplicate_events_by_date) plus the
-- run's changes to the copies of each event (int_event_copy_changes), so copies that arrive in
-- different files are duplicates on their date.
with base_duplicate_events_by_date as (
    select event_date, event_rows, distinct_events
    from base_duplicate_events_by_date
),

int_event_copy_changes as (
    select event_date, copies, copies_before
    from int_event_copy_changes
),

changes as (
    select
        event_date,
        sum(copies - copies_before) as event_rows,
        count(*) filter (where copies > 0 and copies_before = 0)
        - count(*) filter (where copies = 0 and copies_before > 0) as distinct_events
    from int_event_copy_changes
    group by event_date
),

by_date as (
    select
        event_date,
        cast(sum(event_rows) as bigint) as event_rows,
        cast(sum(distinct_events) as bigint) as distinct_events,
        cast(sum(event_rows) - sum(distinct_events) as bigint) as surplus_copies
    from (
        select event_date, event_rows, distinct_events from base_duplicate_events_by_date
        union all
        select event_date, event_rows, distinct_events from changes
    ) as counts
    group by event_date
    having sum(event_rows) > 0
),

final as (
    select
        cast(row_number() over (order by surplus_copies desc, event_date) as int) as position,
        event_date,
        surplus_copies,
        distinct_events,
        event_rows,
        count(*) over (partition by surplus_copies) > 1 as is_tied
    from by_date
)

select * from final order by position
