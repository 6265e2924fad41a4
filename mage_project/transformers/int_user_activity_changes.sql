-- intermediate: the touched users of users.csv (int_touched_users) as signed rows of
-- int_user_activity: sign -1 with the user as published (none when the run starts from nothing),
-- +1 with the user after the run. Country, age and conflicts come from users (this run's when
-- users.csv changed, else the published ones); events, views and clicks count distinct events. A
-- valuable user has at least variables('min_views') VIEW and variables('min_clicks') CLICK events.
with run_inputs as (
    select users_changed, has_base
    from run_inputs
),

int_touched_users as (
    select user_id
    from int_touched_users
),

int_users as (
    select user_id, country, age, is_readable_age, age_from, age_to, is_open_ended_age, has_conflicting_rows
    from int_users
),

base_int_users as (
    select user_id, country, age, is_readable_age, age_from, age_to, is_open_ended_age, has_conflicting_rows
    from base_int_users
),

int_user_event_sides as (
    select user_id, event_type, sign, distinct_events
    from int_user_event_sides
),

touched_base_users as (
    select base_int_users.*
    from base_int_users
    inner join int_touched_users on base_int_users.user_id = int_touched_users.user_id
),

sides as (
    select -1 as sign, *
    from touched_base_users
    where (select run_inputs.has_base from run_inputs)
    union all
    select 1 as sign, *
    from int_users
    union all
    select 1 as sign, *
    from touched_base_users
    where not (select run_inputs.users_changed from run_inputs)
),

per_user as (
    select
        user_id,
        sign,
        sum(distinct_events) as events,
        coalesce(sum(distinct_events) filter (where event_type = 'VIEW'), 0) as views,
        coalesce(sum(distinct_events) filter (where event_type = 'CLICK'), 0) as clicks
    from int_user_event_sides
    group by user_id, sign
),

final as (
    select
        sides.user_id,
        sides.sign,
        sides.country,
        sides.age,
        sides.is_readable_age,
        sides.age_from,
        sides.age_to,
        sides.is_open_ended_age,
        sides.has_conflicting_rows,
        cast(coalesce(per_user.events, 0) as bigint) as events,
        cast(coalesce(per_user.views, 0) as bigint) as views,
        cast(coalesce(per_user.clicks, 0) as bigint) as clicks,
        coalesce(per_user.events, 0) > 0 as is_visitor,
        coalesce(
            per_user.views >= {{ variables('min_views') | int }}
            and per_user.clicks >= {{ variables('min_clicks') | int }},
            false
        ) as is_valuable
    from sides
    left join per_user on sides.user_id = per_user.user_id and sides.sign = per_user.sign
)

select * from final
