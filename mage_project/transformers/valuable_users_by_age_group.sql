-- analytics.valuable_users_by_age_group: one row per age group as stored in users.
-- Q4 definition: a valuable user is a known user with at least 5 VIEW and 10 CLICK events,
-- counted after removing exact duplicate copies. question_age_group says where the stored
-- label falls in the question's 18-49 / 50-80, or 'does not fit' when it straddles both.
-- Ranked by valuable_users, ties broken by age_group; is_tied marks groups sharing the count.
with users as (
    select user_id, age, question_age_group
    from staging_build.stg_users
),

events as (
    select user_id, event_type
    from staging_build.stg_user_interaction
    where not is_orphan and copy_number = 1
),

per_user as (
    select
        user_id,
        count(*) filter (where event_type = 'VIEW') as views,
        count(*) filter (where event_type = 'CLICK') as clicks
    from events
    group by user_id
),

valuable as (
    select user_id
    from per_user
    where views >= 5 and clicks >= 10
),

by_age as (
    select
        users.age as age_group,
        users.question_age_group,
        count(valuable.user_id) as valuable_users,
        count(*) as users
    from users
    left join valuable on valuable.user_id = users.user_id
    group by users.age, users.question_age_group
),

final as (
    select
        row_number() over (order by valuable_users desc, age_group)::int as rank,
        age_group,
        question_age_group,
        valuable_users,
        users,
        count(*) over (partition by valuable_users) > 1 as is_tied
    from by_age
)

select * from final order by rank
