-- intermediate.int_users: one row per user_id of users.csv.
-- Repeated user_ids are kept as one user. When all their lines agree (exact repeats), the user
-- carries that line's age and country and is_duplicated says so. When they disagree,
-- has_conflicting_rows is true and age, country and the age range are null: no line is preferred
-- over another and no fields of different lines are mixed, so such users are left out of the
-- country and age questions (raw users keeps every line).
with stg_users as (
    select user_id, age, country, is_readable_age, age_from, age_to, is_open_ended_age
    from stg_users
),

collapsed as (
    select
        user_id,
        count(*) as source_rows,
        min(age) <> max(age) or min(country) <> max(country) as has_conflicting_rows,
        min(age) as age,
        min(country) as country,
        -- the lines agree on the label wherever these are kept, so they agree on what it reads as
        bool_and(is_readable_age) as is_readable_age,
        min(age_from) as age_from,
        min(age_to) as age_to,
        bool_and(is_open_ended_age) as is_open_ended_age
    from stg_users
    group by user_id
),

final as (
    select
        user_id,
        source_rows,
        source_rows > 1 as is_duplicated,
        has_conflicting_rows,
        case when not has_conflicting_rows then age end as age,
        case when not has_conflicting_rows then country end as country,
        case when not has_conflicting_rows then is_readable_age end as is_readable_age,
        case when not has_conflicting_rows then age_from end as age_from,
        case when not has_conflicting_rows then age_to end as age_to,
        case when not has_conflicting_rows then is_open_ended_age end as is_open_ended_age
    from collapsed
)

select * from final
