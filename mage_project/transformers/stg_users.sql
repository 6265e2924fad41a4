-- staging.stg_users: one row per user_id in raw.users.
-- Duplicated user_ids are kept as one row and flagged; when their rows disagree, the smallest
-- age and country label win (deterministic) and has_conflicting_rows says so.
-- question_age_group maps the stored label onto the question's groups (18-49, 50-80): a label
-- fits a group only when its whole range lies inside it, otherwise it is 'does not fit'.
with users as (
    select user_id, age, country
    from raw_build.users
),

collapsed as (
    select
        user_id,
        min(age) as age,
        min(country) as country,
        count(*) as source_rows,
        count(distinct (age, country)) > 1 as has_conflicting_rows
    from users
    group by user_id
),

age_bounds as (
    select
        collapsed.*,
        (regexp_match(age, '^\s*(\d+)\s*-\s*(\d+)\s*$'))[1]::int as age_from,
        (regexp_match(age, '^\s*(\d+)\s*-\s*(\d+)\s*$'))[2]::int as age_to
    from collapsed
),

final as (
    select
        user_id,
        age,
        country,
        source_rows,
        source_rows > 1 as is_duplicated,
        has_conflicting_rows,
        case
            when age_from >= 18 and age_to <= 49 then '18-49'
            when age_from >= 50 and age_to <= 80 then '50-80'
            else 'does not fit'
        end as question_age_group
    from age_bounds
)

select * from final
