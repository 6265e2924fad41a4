-- analytics.valuable_users_by_age_group: one row per age label as stored in users.
-- Q4 definition: a valuable user is a known user with at least 5 VIEW and 10 CLICK events,
-- counted after removing exact duplicate copies. question_age_group says where the stored
-- label falls against the question's 18-49 / 50-80 (see stg_users); users whose lines in
-- users.csv conflict have no label and are left out.
-- Ranked by valuable_users, ties broken by age_group; is_tied marks groups sharing the count.
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with users as (
    select age, question_age_group, is_open_ended_age, is_valuable
    from {{ build }}.user_activity
    where not has_conflicting_rows
),

by_age as (
    select
        age as age_group,
        question_age_group,
        is_open_ended_age,
        count(*) filter (where is_valuable) as valuable_users,
        count(*) as users
    from users
    group by age, question_age_group, is_open_ended_age
),

final as (
    select
        row_number() over (order by valuable_users desc, age_group)::int as rank,
        age_group,
        question_age_group,
        is_open_ended_age,
        valuable_users,
        users,
        count(*) over (partition by valuable_users) > 1 as is_tied
    from by_age
)

select * from final order by rank
