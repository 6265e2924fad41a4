-- staging.stg_users: one row per user_id in raw.users.
-- Duplicated user_ids are kept as one row. When all their lines agree (exact repeats), the row
-- carries that line's age and country and is_duplicated says so. When their lines disagree,
-- has_conflicting_rows is true and age and country are null: no line is preferred over another
-- and no fields of different lines are mixed; such users are left out of the country and age
-- questions (raw.users keeps every line).
-- The age label is read as a range: 'a-b', a single age 'a', or open-ended 'a+' (age_to null);
-- anything else is unreadable. question_age_group places that range against the question's
-- groups 18-49 and 50-80:
--   '18-49' / '50-80'        the whole range lies inside the group
--   'both'                   it overlaps both groups and nothing outside them (46-80)
--   '18-49 or neither'       it overlaps 18-49 and ages outside both (10-30); likewise '50-80 or neither'
--   'both or neither'        it overlaps both groups and ages outside them (10-90)
--   'neither'                it lies wholly outside both (0-17, 81-90)
--   'unreadable'             the label is not an age range (adult, '18–49' with an en dash)
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with users as (
    select user_id, age, country
    from {{ build }}.users
),

collapsed as (
    select
        user_id,
        count(*) as source_rows,
        min(age) <> max(age) or min(country) <> max(country) as has_conflicting_rows,
        min(age) as age,
        min(country) as country
    from users
    group by user_id
),

resolved as (
    select
        user_id,
        source_rows,
        has_conflicting_rows,
        case when not has_conflicting_rows then age end as age,
        case when not has_conflicting_rows then country end as country
    from collapsed
),

-- materialized: the regular expression runs once per user, not once per reference to its parts
parsed as materialized (
    select
        resolved.*,
        regexp_match(resolved.age, '^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})\s*|(\+)\s*)?$') as age_parts
    from resolved
),

bounds as (
    select
        parsed.*,
        parsed.age_parts[1]::int as age_from,
        case
            when parsed.age_parts[3] is not null then null
            else coalesce(parsed.age_parts[2], parsed.age_parts[1])::int
        end as age_to,
        parsed.age_parts[3] is not null as is_open_ended_age
    from parsed
),

readable as (
    select
        bounds.*,
        bounds.age_from is not null
        and (bounds.age_to is null and bounds.is_open_ended_age or bounds.age_from <= bounds.age_to)
        as is_readable_age,
        -- does the label's range overlap 18-49, 50-80, or ages outside both?
        bounds.age_from <= 49 and coalesce(bounds.age_to, 999) >= 18 as could_be_18_49,
        bounds.age_from <= 80 and coalesce(bounds.age_to, 999) >= 50 as could_be_50_80,
        bounds.age_from < 18 or coalesce(bounds.age_to, 999) > 80 as could_be_neither
    from bounds
),

final as (
    select
        user_id,
        age,
        country,
        source_rows,
        source_rows > 1 as is_duplicated,
        has_conflicting_rows,
        case when is_readable_age then age_from end as age_from,
        case when is_readable_age then age_to end as age_to,
        is_readable_age and is_open_ended_age as is_open_ended_age,
        case
            when has_conflicting_rows then null
            when not coalesce(is_readable_age, false) then 'unreadable'
            when could_be_18_49 and could_be_50_80 and could_be_neither then 'both or neither'
            when could_be_18_49 and could_be_50_80 then 'both'
            when could_be_18_49 and could_be_neither then '18-49 or neither'
            when could_be_50_80 and could_be_neither then '50-80 or neither'
            when could_be_18_49 then '18-49'
            when could_be_50_80 then '50-80'
            else 'neither'
        end as question_age_group
    from readable
)

select * from final
