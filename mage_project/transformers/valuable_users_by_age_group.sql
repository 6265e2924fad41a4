-- analytics.valuable_users_by_age_group: one row per age label as stored in users.
-- Q4 definition: a valuable user is a known user with at least min_views VIEW and min_clicks
-- CLICK events, counted after removing exact duplicate copies (int_user_activity). Users whose
-- lines in users.csv conflict have no label and are left out.
-- question_age_group places the label's range against the question's groups, the pipeline's
-- variables younger_age_group and older_age_group (18-49 and 50-80):
--   '18-49' / '50-80'        the whole range lies inside the group
--   'both'                   it overlaps both groups and nothing outside them (46-80)
--   '18-49 or neither'       it overlaps 18-49 and ages outside both (10-30); likewise '50-80 or neither'
--   'both or neither'        it overlaps both groups and ages outside them (10-90)
--   'neither'                it lies wholly outside both (0-17, 81-90)
--   'unreadable'             the label is not an age range (adult, '18–49' with an en dash)
-- position orders the labels by valuable_users, ties broken by age_group; is_tied marks labels
-- sharing the count.
{%- set young = variables('younger_age_group').split('-') %}
{%- set old = variables('older_age_group').split('-') %}
{%- set young_from, young_to = young[0] | int, young[1] | int %}
{%- set old_from, old_to = old[0] | int, old[1] | int %}
-- Kept up to date incrementally: the published counts (base_valuable_users_by_age_group, placed
-- with the same numbers: other numbers start from nothing) plus what the run's touched users add
-- and take away (int_user_activity_changes).
with base_valuable_users_by_age_group as (
    select age_group, question_age_group, is_open_ended_age, valuable_users, users
    from base_valuable_users_by_age_group
),

int_user_activity_changes as (
    select sign, age, is_readable_age, age_from, age_to, is_open_ended_age, is_valuable
    from int_user_activity_changes
    where not has_conflicting_rows
),

-- does the label's range (open-ended: up to any age) overlap each group, or ages outside both
-- (below, above, or between the groups when they leave a gap)?
possible_groups as (
    select
        sign,
        age,
        is_readable_age,
        is_open_ended_age,
        is_valuable,
        age_from <= {{ young_to }} and (age_to >= {{ young_from }} or age_to is null) as could_be_younger,
        age_from <= {{ old_to }} and (age_to >= {{ old_from }} or age_to is null) as could_be_older,
        age_from < {{ young_from }}
        or coalesce(age_to, {{ old_to + 1 }}) > {{ old_to }}
        {%- if young_to + 1 < old_from %}
        or age_from < {{ old_from }} and coalesce(age_to, {{ old_from }}) > {{ young_to }}
        {%- endif %} as could_be_neither
    from int_user_activity_changes
),

placed as (
    select
        sign,
        age,
        is_open_ended_age,
        is_valuable,
        case
            when not is_readable_age then 'unreadable'
            when could_be_younger and could_be_older and could_be_neither then 'both or neither'
            when could_be_younger and could_be_older then 'both'
            when could_be_younger and could_be_neither then '{{ young_from }}-{{ young_to }} or neither'
            when could_be_older and could_be_neither then '{{ old_from }}-{{ old_to }} or neither'
            when could_be_younger then '{{ young_from }}-{{ young_to }}'
            when could_be_older then '{{ old_from }}-{{ old_to }}'
            else 'neither'
        end as question_age_group
    from possible_groups
),

changes as (
    select
        age as age_group,
        question_age_group,
        is_open_ended_age,
        coalesce(sum(sign) filter (where is_valuable), 0) as valuable_users,
        sum(sign) as users
    from placed
    group by age, question_age_group, is_open_ended_age
),

by_age as (
    select
        age_group,
        question_age_group,
        is_open_ended_age,
        cast(sum(valuable_users) as bigint) as valuable_users,
        cast(sum(users) as bigint) as users
    from (
        select age_group, question_age_group, is_open_ended_age, valuable_users, users
        from base_valuable_users_by_age_group
        union all
        select age_group, question_age_group, is_open_ended_age, valuable_users, users
        from changes
    ) as counts
    group by age_group, question_age_group, is_open_ended_age
    having sum(users) > 0
),

final as (
    select
        cast(row_number() over (order by valuable_users desc, age_group) as int) as position,
        age_group,
        question_age_group,
        is_open_ended_age,
        valuable_users,
        users,
        count(*) over (partition by valuable_users) > 1 as is_tied
    from by_age
)

select * from final order by position
