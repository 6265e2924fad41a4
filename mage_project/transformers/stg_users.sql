-- staging.stg_users: one row per line of users.csv as loaded (raw users); nothing is resolved here.
-- The age label is read as a range: 'a-b', a single age 'a', or open-ended 'a+' (age_to null);
-- anything else is unreadable (is_readable_age false, no range). Repeated and conflicting user_ids
-- are resolved in int_users.
with source as (
    select user_id, age, country
    from users
),

-- materialized: the regular expression runs once per line, not once per reference to its parts
parsed as materialized (
    select
        user_id,
        age,
        country,
        regexp_match(age, '^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})\s*|(\+)\s*)?$') as age_parts
    from source
),

bounds as (
    select
        user_id,
        age,
        country,
        age_parts[1]::int as age_from,
        case
            when age_parts[3] is not null then null
            else coalesce(age_parts[2], age_parts[1])::int
        end as age_to,
        age_parts[3] is not null as is_open_ended_age
    from parsed
),

final as (
    select
        user_id,
        age,
        country,
        coalesce(age_from <= age_to or age_to is null and is_open_ended_age, false) as is_readable_age,
        case when age_from <= age_to or age_to is null and is_open_ended_age then age_from end as age_from,
        case when age_from <= age_to then age_to end as age_to,
        coalesce(age_to is null and is_open_ended_age, false) as is_open_ended_age
    from bounds
)

select * from final
