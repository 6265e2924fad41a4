-- intermediate.int_user_events: one row per user_id and event type in the event log, known users
-- and user_ids missing from users alike: the rows logged (event_rows, exact duplicate copies
-- included) and the distinct events (distinct_events, copies removed).
with int_event_copies as (
    select user_id, event_type, copies
    from int_event_copies
),

final as (
    select
        user_id,
        event_type,
        cast(sum(copies) as bigint) as event_rows,
        count(*) as distinct_events
    from int_event_copies
    group by user_id, event_type
)

select * from final
