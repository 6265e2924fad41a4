-- conflicting_users: one row, how many users are left out of q3 and q4 because their lines in
-- users.csv conflict (see stg_users), and how many of them are visitors and valuable users. The
-- answers say so; this summary is what they read, on either engine.
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with users as (
    select is_visitor, is_valuable
    from {{ build }}.user_activity
    where has_conflicting_rows
),

final as (
    select
        count(*) as users,
        count(*) filter (where is_visitor) as visitors,
        count(*) filter (where is_valuable) as valuable_users
    from users
)

select * from final
