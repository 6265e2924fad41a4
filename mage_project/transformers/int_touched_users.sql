-- intermediate: the user_ids whose numbers this run may change: those whose events change and,
-- when users.csv changes (or the run starts from nothing: a first run, a full refresh, other
-- question numbers), every user_id of users and of the events. The question tables are updated by
-- what these users add and take away (int_user_event_sides, int_user_activity_changes), so an
-- incremental run reads only them.
with run_inputs as (
    select users_changed, has_base
    from run_inputs
),

int_user_event_changes as (
    select user_id
    from int_user_event_changes
),

int_users as (
    select user_id
    from int_users
),

base_int_users as (
    select user_id
    from base_int_users
    where (select run_inputs.users_changed from run_inputs)
),

base_int_user_events as (
    select user_id
    from base_int_user_events
    where not (select run_inputs.has_base from run_inputs)
),

final as (
    select user_id from int_user_event_changes
    union
    select user_id from int_users
    union
    select user_id from base_int_users
    union
    select user_id from base_int_user_events
)

select * from final
