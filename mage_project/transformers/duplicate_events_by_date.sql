-- analytics.duplicate_events_by_date: one row per event date.
-- Q2 definition: a duplicate is an exact copy of an event row (all four columns equal);
-- surplus_copies counts the copies beyond the first, on the date of the event.
-- position orders the dates by surplus_copies, ties broken by the earlier date; is_tied marks
-- dates that share their surplus_copies count with another date.
with int_event_copies as (
    select event_date, copies
    from int_event_copies
),

by_date as (
    select
        event_date,
        cast(sum(copies) as bigint) as event_rows,
        count(*) as distinct_events,
        cast(sum(copies) - count(*) as bigint) as surplus_copies
    from int_event_copies
    group by event_date
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
