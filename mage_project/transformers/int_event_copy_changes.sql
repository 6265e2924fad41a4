-- intermediate: how this run changes int_event_copies, one row per distinct event (event_id,
-- user_id, event_type and event_time all equal) whose number of logged rows changes: the rows of
-- the loads this run adds count +1, those of the loads it retires -1 (load_changes). copies is
-- the number after the run, copies_before the number before it (base_int_event_copies, the
-- published state); 0 copies means the event is gone. A run that starts from nothing (a first
-- run, a full refresh) has every distinct event here, with copies_before 0: the whole table.
with stg_user_interaction as (
    select event_id, user_id, event_type, event_time, event_date, load_id
    from stg_user_interaction
),

load_changes as (
    select load_id, change
    from load_changes
),

base_int_event_copies as (
    select event_id, user_id, event_type, event_time, copies
    from base_int_event_copies
),

copy_changes as (
    select
        stg_user_interaction.event_id,
        stg_user_interaction.user_id,
        stg_user_interaction.event_type,
        stg_user_interaction.event_time,
        stg_user_interaction.event_date,
        sum(load_changes.change) as copy_change
    from stg_user_interaction
    inner join load_changes on stg_user_interaction.load_id = load_changes.load_id
    group by
        stg_user_interaction.event_id,
        stg_user_interaction.user_id,
        stg_user_interaction.event_type,
        stg_user_interaction.event_time,
        stg_user_interaction.event_date
),

final as (
    select
        copy_changes.event_id,
        copy_changes.user_id,
        copy_changes.event_type,
        copy_changes.event_time,
        copy_changes.event_date,
        cast(coalesce(base_int_event_copies.copies, 0) + copy_changes.copy_change as bigint) as copies,
        cast(coalesce(base_int_event_copies.copies, 0) as bigint) as copies_before
    from copy_changes
    left join base_int_event_copies
        on
            copy_changes.event_id = base_int_event_copies.event_id
            and copy_changes.user_id = base_int_event_copies.user_id
            and copy_changes.event_type = base_int_event_copies.event_type
            and copy_changes.event_time = base_int_event_copies.event_time
    where copy_changes.copy_change <> 0
)

select * from final
