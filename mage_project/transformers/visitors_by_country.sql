-- analytics.visitors_by_country: one row per country in users.
-- Q3 definition: a visitor is a known user (in users) with at least one event; events counts
-- their distinct events (exact duplicate copies removed). Orphan events have no country, and
-- users whose lines in users.csv conflict are left out (their country is unknown).
-- Ranked by visitors, ties broken by events, then country; is_tied marks countries that share
-- their visitor count with another country.
{%- set build = env_var('PIPELINE_BUILD_SCHEMA') or 'build_not_started' %}
with users as (
    select country, is_visitor, events
    from {{ build }}.user_activity
    where not has_conflicting_rows
),

by_country as (
    select
        country,
        count(*) filter (where is_visitor) as visitors,
        sum(events) as events,
        count(*) as users
    from users
    group by country
),

final as (
    select
        row_number() over (order by visitors desc, events desc, country)::int as rank,
        country,
        visitors,
        events,
        users,
        count(*) over (partition by visitors) > 1 as is_tied
    from by_country
)

select * from final order by rank
