-- analytics.visitors_by_country: one row per country in users, as stored.
-- Q3 definition: a visitor is a known user (in users) with at least one event; events counts
-- their distinct events (exact duplicate copies removed). Orphan events have no country, and
-- users whose lines in users.csv conflict are left out (their country is unknown).
-- position orders the countries by visitors, ties broken by events, then country; is_tied marks
-- countries that share their visitor count with another country.
-- Kept up to date incrementally: the published counts (base_visitors_by_country) plus what the
-- run's touched users add and take away (int_user_activity_changes).
with base_visitors_by_country as (
    select country, visitors, events, users
    from base_visitors_by_country
),

int_user_activity_changes as (
    select country, sign, is_visitor, events
    from int_user_activity_changes
    where not has_conflicting_rows
),

changes as (
    select
        country,
        sum(sign) filter (where is_visitor) as visitors,
        sum(sign * events) as events,
        sum(sign) as users
    from int_user_activity_changes
    group by country
),

by_country as (
    select
        country,
        cast(coalesce(sum(visitors), 0) as bigint) as visitors,
        cast(sum(events) as bigint) as events,
        cast(sum(users) as bigint) as users
    from (
        select country, visitors, events, users from base_visitors_by_country
        union all
        select country, visitors, events, users from changes
    ) as counts
    group by country
    having sum(users) > 0
),

final as (
    select
        cast(row_number() over (order by visitors desc, events desc, country) as int) as position,
        country,
        visitors,
        events,
        users,
        count(*) over (partition by visitors) > 1 as is_tied
    from by_country
)

select * from final order by position
