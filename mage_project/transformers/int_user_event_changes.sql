-- intermediate: how this run changes int_user_events, one row per user_id and event_type whose
-- logged rows (event_rows, exact duplicates included) or distinct events (distinct_events) change,
-- with both before (the published state) and after the run. Orphan user_ids are here too. A run
-- that starts from nothing has every user_id and event type here: the whole table.
with int_event_copy_changes as (
    select user_id, event_type, copies, copies_before
    from int_event_copy_changes
),

base_int_user_events as (
    select user_id, event_type, event_rows, distinct_events
    from base_int_user_events
),

changes as (
    select
        user_id,
        event_type,
        sum(copies - copies_before) as row_change,
        count(*) filter (where copies > 0 and copies_before = 0)
        - count(*) filter (where copies = 0 and copies_before > 0) as distinct_change
    from int_event_copy_changes
    group by user_id, event_type
),

final as (
    select
        changes.user_id,
        changes.event_type,
        cast(coalesce(base_int_user_events.event_rows, 0) + changes.row_change as bigint) as event_rows,
        cast(coalesce(base_int_user_events.distinct_events, 0) + changes.distinct_change as bigint)
        as distinct_events,
        cast(coalesce(base_int_user_events.event_rows, 0) as bigint) as event_rows_before,
        cast(coalesce(base_int_user_events.distinct_events, 0) as bigint) as distinct_events_before
    from changes
    left join base_int_user_events
        on
            changes.user_id = base_int_user_events.user_id
            and changes.event_type = base_int_user_events.event_type
    where changes.row_change <> 0 or changes.distinct_change <> 0
)

select * from final
