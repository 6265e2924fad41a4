-- analytics.orphan_events_by_type: one row per event type, as stored.
-- Q1 definition: an orphan event is an event row whose user_id is not in users, counted as
-- logged (exact duplicate copies included, since each copy was logged with the wrong id).
-- position orders the types by orphan_events, ties broken by orphan_share, then event_type;
-- is_tied marks types that share their orphan_events count with another type.
with int_user_events as (
    select user_id, event_type, event_rows
    from int_user_events
),

int_users as (
    select user_id
    from int_users
),

by_type as (
    select
        int_user_events.event_type,
        cast(coalesce(sum(int_user_events.event_rows) filter (where int_users.user_id is null), 0) as bigint)
        as orphan_events,
        cast(sum(int_user_events.event_rows) as bigint) as events
    from int_user_events
    left join int_users on int_user_events.user_id = int_users.user_id
    group by int_user_events.event_type
),

final as (
    select
        cast(row_number() over (
            order by orphan_events desc, cast(orphan_events as numeric) / events desc, event_type
        ) as int) as position,
        event_type,
        orphan_events,
        events,
        round(cast(orphan_events as numeric) / events, 4) as orphan_share,
        count(*) over (partition by orphan_events) > 1 as is_tied
    from by_type
)

select * from final order by position
