-- staging.stg_user_interaction: one row per row of raw.user_interaction; nothing is dropped.
-- copy_number numbers identical rows (all four columns equal): 1 is the original, 2 and up are
-- exact duplicate copies. is_orphan: the user_id is not in users.
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with events as (
    select event_id, user_id, event_type, event_time
    from {{ build }}.user_interaction
),

users as (
    select user_id
    from {{ build }}.stg_users
),

numbered as (
    select
        events.*,
        -- the order within identical rows does not matter; Spark needs one to number them
        row_number() over (
            partition by event_id, user_id, event_type, event_time order by event_id
        ) as copy_number
    from events
),

final as (
    select
        numbered.event_id,
        numbered.user_id,
        numbered.event_type,
        numbered.event_time,
        numbered.event_time::date as event_date,
        numbered.copy_number,
        numbered.copy_number > 1 as is_duplicate_copy,
        users.user_id is null as is_orphan,
        numbered.event_type in ('VIEW', 'CLICK', 'EXIT') as is_known_event_type
    from numbered
    left join users on users.user_id = numbered.user_id
)

select * from final
