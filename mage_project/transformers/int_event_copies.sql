-- intermediate.int_event_copies: one row per distinct event (event_id, user_id, event_type and
-- event_time all equal), with how many rows were logged for it (copies; 2 or more: exact
-- duplicates) and its date.
with stg_user_interaction as (
    select event_id, user_id, event_type, event_time, event_date
    from stg_user_interaction
),

final as (
    select
        event_id,
        user_id,
        event_type,
        event_time,
        event_date,
        count(*) as copies
    from stg_user_interaction
    group by event_id, user_id, event_type, event_time, event_date
)

select * from final
