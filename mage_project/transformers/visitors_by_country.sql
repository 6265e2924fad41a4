-- analytics.visitors_by_country: one row per country in users, as stored.
-- Q3 definition: a visitor is a known user (in users) with at least one event; events counts
-- their distinct events (exact duplicate copies removed). Orphan events have no country, and
-- users whose lines in users.csv conflict are left out (their country is unknown).
-- position orders the countries by visitors, ties broken by events, then country; is_tied marks
-- countries that share their visitor count with another country.
with int_user_activity as (
    select country, is_visitor, events
    from int_user_activity
    where not has_conflicting_rows
),

by_country as (
    select
        country,
        count(*) filter (where is_visitor) as visitors,
        cast(sum(events) as bigint) as events,
        count(*) as users
    from int_user_activity
    group by country
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
