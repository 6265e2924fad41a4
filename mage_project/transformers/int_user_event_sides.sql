-- intermediate: the events of the touched users (int_touched_users) per user_id and event type, as
-- signed rows: sign -1 with their numbers before the run (the published state; none when the run
-- starts from nothing), +1 with their numbers after it. is_known_user: the user_id is in users
-- (before: the published users; after: this run's). Summed with their signs, these rows are what
-- the run changes in every count over users and events.
with run_inputs as (
    select users_changed, has_base
    from run_inputs
),

int_touched_users as (
    select user_id
    from int_touched_users
),

int_users as (
    select user_id
    from int_users
),

base_int_users as (
    select user_id
    from base_int_users
),

int_user_event_changes as (
    select user_id, event_type, event_rows, distinct_events
    from int_user_event_changes
),

base_int_user_events as (
    select user_id, event_type, event_rows, distinct_events
    from base_int_user_events
),

events_before as (
    select
        base_int_user_events.user_id,
        base_int_user_events.event_type,
        base_int_user_events.event_rows,
        base_int_user_events.distinct_events
    from base_int_user_events
    inner join int_touched_users on base_int_user_events.user_id = int_touched_users.user_id
),

events_after as (
    select
        events_before.user_id,
        events_before.event_type,
        events_before.event_rows,
        events_before.distinct_events
    from events_before
    left join int_user_event_changes
        on
            events_before.user_id = int_user_event_changes.user_id
            and events_before.event_type = int_user_event_changes.event_type
    where int_user_event_changes.user_id is null
    union all
    select user_id, event_type, event_rows, distinct_events
    from int_user_event_changes
    where event_rows > 0
),

final as (
    select
        events_before.user_id,
        events_before.event_type,
        -1 as sign,
        events_before.event_rows,
        events_before.distinct_events,
        base_int_users.user_id is not null as is_known_user
    from events_before
    left join base_int_users on events_before.user_id = base_int_users.user_id
    where (select run_inputs.has_base from run_inputs)
    union all
    select
        events_after.user_id,
        events_after.event_type,
        1 as sign,
        events_after.event_rows,
        events_after.distinct_events,
        case
            when (select run_inputs.users_changed from run_inputs) then int_users.user_id is not null
            else base_int_users.user_id is not null
        end as is_known_user
    from events_after
    left join int_users on events_after.user_id = int_users.user_id
    left join base_int_users on events_after.user_id = base_int_users.user_id
)

select * from final
