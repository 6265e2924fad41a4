-- intermediate.int_user_activity: one row per user in int_users, with their distinct events.
-- The shared ground of q3 and q4: events counts a user's events after removing exact duplicate
-- copies (orphan events belong to no user); a visitor has at least one event; a valuable user has
-- at least min_views VIEW and min_clicks CLICK events (the pipeline's variables; event types as
-- stored). Country and age are null where the user's lines conflict (int_users).
with int_users as (
    select user_id, country, age, is_readable_age, age_from, age_to, is_open_ended_age, has_conflicting_rows
    from int_users
),

int_user_events as (
    select user_id, event_type, distinct_events
    from int_user_events
),

per_user as (
    select
        user_id,
        sum(distinct_events) as events,
        coalesce(sum(distinct_events) filter (where event_type = 'VIEW'), 0) as views,
        coalesce(sum(distinct_events) filter (where event_type = 'CLICK'), 0) as clicks
    from int_user_events
    group by user_id
),

final as (
    select
        int_users.user_id,
        int_users.country,
        int_users.age,
        int_users.is_readable_age,
        int_users.age_from,
        int_users.age_to,
        int_users.is_open_ended_age,
        int_users.has_conflicting_rows,
        cast(coalesce(per_user.events, 0) as bigint) as events,
        cast(coalesce(per_user.views, 0) as bigint) as views,
        cast(coalesce(per_user.clicks, 0) as bigint) as clicks,
        coalesce(per_user.events, 0) > 0 as is_visitor,
        coalesce(
            per_user.views >= {{ variables('min_views') | int }}
            and per_user.clicks >= {{ variables('min_clicks') | int }},
            false
        ) as is_valuable
    from int_users
    left join per_user on int_users.user_id = per_user.user_id
)

select * from final
