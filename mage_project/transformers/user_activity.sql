-- staging.user_activity: one row per user_id in users, with the user's distinct events.
-- The shared ground of q3 and q4: events counts a user's events after removing exact duplicate
-- copies (orphan events belong to no user); a visitor has at least one event; a valuable user has
-- at least 5 VIEW and 10 CLICK events. Country and age come from stg_users (null where the
-- user's lines conflict).
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with users as (
    select
        user_id,
        country,
        age,
        question_age_group,
        is_open_ended_age,
        has_conflicting_rows
    from {{ build }}.stg_users
),

events as (
    select user_id, event_type
    from {{ build }}.stg_user_interaction
    where not is_orphan and copy_number = 1
),

per_user as (
    select
        user_id,
        count(*) as events,
        count(*) filter (where event_type = 'VIEW') as views,
        count(*) filter (where event_type = 'CLICK') as clicks
    from events
    group by user_id
),

final as (
    select
        users.user_id,
        users.country,
        users.age,
        users.question_age_group,
        users.is_open_ended_age,
        users.has_conflicting_rows,
        coalesce(per_user.events, 0) as events,
        coalesce(per_user.views, 0) as views,
        coalesce(per_user.clicks, 0) as clicks,
        coalesce(per_user.events, 0) > 0 as is_visitor,
        coalesce(per_user.views >= 5 and per_user.clicks >= 10, false) as is_valuable
    from users
    left join per_user on per_user.user_id = users.user_id
)

select * from final
