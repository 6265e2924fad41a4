-- analytics.answers: one row per business question (q1..q4), with the answer as a sentence that
-- names ties and mismatches, and the definition it rests on.
with orphans as (
    select * from analytics_build.orphan_events_by_type
),

duplicates as (
    select * from analytics_build.duplicate_events_by_date
),

countries as (
    select * from analytics_build.visitors_by_country
),

age_groups as (
    select * from analytics_build.valuable_users_by_age_group
),

q1 as (
    select
        case
            when max(orphan_events) = 0 then 'No event carries a user_id that is missing from users.'
            else format(
                '%s: %s. Events with a user_id not in users, by type: %s.',
                case when count(*) filter (where orphan_events = top) > 1 then 'Tied for most often' else 'Most often' end,
                string_agg(format('%s (%s of %s events)', event_type, orphan_events, events), ' and ' order by rank)
                    filter (where orphan_events = top),
                string_agg(format('%s %s', event_type, orphan_events), ', ' order by rank)
                    filter (where orphan_events > 0)
            )
        end as answer
    from (select *, max(orphan_events) over () as top from orphans) as ranked
),

q2 as (
    select
        case
            when coalesce(max(surplus_copies), 0) = 0 then 'No event row is an exact duplicate of another.'
            else format(
                '%s: %s. %s surplus copies in all; other dates with any: %s%s.',
                case when count(*) filter (where surplus_copies = top) > 1 then 'Tied' else 'The date' end,
                string_agg(format('%s (%s surplus copies: %s rows logged for %s distinct events)', event_date, surplus_copies, event_rows, distinct_events), ' and ' order by rank)
                    filter (where surplus_copies = top),
                sum(surplus_copies),
                coalesce(string_agg(format('%s (%s)', event_date, surplus_copies), ', ' order by rank)
                    filter (where surplus_copies > 0 and surplus_copies < top and nth <= 5), 'none'),
                case
                    when count(*) filter (where surplus_copies > 0 and surplus_copies < top) > 5
                    then format(' and %s more dates', count(*) filter (where surplus_copies > 0 and surplus_copies < top) - 5)
                    else ''
                end
            )
        end as answer
    from (
        -- nth numbers the dates below the top count, to list only the first five of them
        select *, row_number() over (partition by surplus_copies = top order by rank) as nth
        from (select *, max(surplus_copies) over () as top from duplicates) as with_top
    ) as ranked
),

q3 as (
    select
        case
            when coalesce(max(visitors), 0) = 0 then 'No known user has any event, so no country has visitors.'
            when count(*) filter (where visitors = top) > 1 then format(
                'Tie on visitors: %s. By events, the tie-break, %s leads.',
                string_agg(format('%s (%s visitors, %s events)', country, visitors, events), ', ' order by rank)
                    filter (where visitors = top),
                min(country) filter (where rank = 1)
            )
            else format(
                '%s, with %s of %s visitors (%s events).',
                min(country) filter (where rank = 1), max(top), sum(visitors),
                min(events) filter (where rank = 1)
            )
        end as answer
    from (select *, max(visitors) over () as top from countries) as ranked
),

q4_totals as (
    select
        coalesce(sum(valuable_users) filter (where question_age_group = '18-49'), 0) as young,
        coalesce(sum(valuable_users) filter (where question_age_group = '50-80'), 0) as old,
        coalesce(sum(valuable_users) filter (where question_age_group = 'does not fit'), 0) as unplaced,
        string_agg(
            format('%s aged %s (%s)', valuable_users, age_group,
                case when question_age_group = 'does not fit'
                    then 'straddles 18-49 and 50-80' else 'within ' || question_age_group end),
            ', ' order by rank
        ) filter (where valuable_users > 0) as detail
    from age_groups
),

q4 as (
    select
        case
            when young + old + unplaced = 0 then 'No user has at least 5 VIEW and 10 CLICK events.'
            else format(
                '%s. Valuable users by stored age label: %s.',
                case
                    when young > old + unplaced then '18-49'
                    when old > young + unplaced then '50-80'
                    when unplaced = 0 then format('A tie: %s each in 18-49 and 50-80', young)
                    else format(
                        'Cannot be decided from the stored labels: 18-49 has %s to %s, 50-80 has %s to %s',
                        young, young + unplaced, old, old + unplaced)
                end,
                detail
            )
        end as answer
    from q4_totals
),

final as (
    select 'q1' as question_id,
        'Which event types most often log a user_id that does not exist in users?' as question,
        q1.answer,
        'Orphan event: an event row whose user_id is not in users, counted as logged (duplicate copies included).' as definition
    from q1
    union all
    select 'q2',
        'On which date were many events duplicated?',
        q2.answer,
        'Duplicate: an exact copy of an event row (event_id, user_id, event_type and event_time all equal); surplus copies are those beyond the first, on the event''s date.'
    from q2
    union all
    select 'q3',
        'Which country do most of our website visitors come from?',
        q3.answer,
        'Visitor: a user in users with at least one event; ties are broken by their distinct events (duplicates removed).'
    from q3
    union all
    select 'q4',
        'What age group do the most valuable users fall in: 18-49 or 50-80?',
        q4.answer,
        'Valuable user: a user in users with at least 5 VIEW and 10 CLICK events after removing exact duplicates; a stored age label counts for a group only if its whole range lies inside it.'
    from q4
)

select * from final order by question_id
