-- analytics.orphan_events_by_type: one row per event type, as stored.
-- Q1 definition: an orphan event is an event row whose user_id is not in users, counted as
-- logged (exact duplicate copies included, since each copy was logged with the wrong id).
-- position orders the types by orphan_events, ties broken by orphan_share, then event_type;
-- is_tied marks types that share their orphan_events count with another type.
-- Kept up to date incrementally: the published counts (base_orphan_events_by_type) plus what the
-- run's touched users add and take away (int_user_event_sides); a changed users.csv touches every
-- user, so orphans that gain a user stop being orphans.
with base_orphan_events_by_type as (
    select event_type, orphan_events, events
    from base_orphan_events_by_type
),

int_user_event_sides as (
    select event_type, sign, event_rows, is_known_user
    from int_user_event_sides
),

changes as (
    select
        event_type,
        coalesce(sum(sign * event_rows) filter (where not is_known_user), 0) as orphan_events,
        sum(sign * event_rows) as events
    from int_user_event_sides
    group by event_type
),

by_type as (
    select
        event_type,
        cast(sum(orphan_events) as bigint) as orphan_events,
        cast(sum(events) as bigint) as events
    from (
        select event_type, orphan_events, events from base_orphan_events_by_type
        union all
        select event_type, orphan_events, events from changes
    ) as counts
    group by event_type
    having sum(events) > 0
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
