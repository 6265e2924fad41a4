-- analytics.visitors_by_country: one row per country in users.
-- Q3 definition: a visitor is a known user (in users) with at least one event; events counts
-- their distinct events (exact duplicate copies removed). Orphan events have no country.
-- Ranked by visitors, ties broken by events, then country; is_tied marks countries that share
-- their visitor count with another country.
with users as (
    select user_id, country
    from staging_build.stg_users
),

events as (
    select user_id
    from staging_build.stg_user_interaction
    where not is_orphan and copy_number = 1
),

by_country as (
    select
        users.country,
        count(distinct events.user_id) as visitors,
        count(events.user_id) as events,
        count(distinct users.user_id) as users
    from users
    left join events on events.user_id = users.user_id
    group by users.country
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
