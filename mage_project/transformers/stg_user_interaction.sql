-- staging.stg_user_interaction: one row per row of raw user_interaction, as logged (exact
-- duplicates and orphans included), with the date of the event. is_known_event_type flags types
-- other than the take-home's three, spelled as stored (the questions count every type as stored).
-- load_id is the file's load in audit.file_loads. In a run's build it holds the rows of the loads
-- the run adds or retires; published, it is a view over every row of raw.user_interaction.
with source as (
    select event_id, user_id, event_type, event_time, load_id
    from user_interaction
),

final as (
    select
        -- Compared byte by byte ("C"): an id has no alphabetical order, and sorting by it so (to
        -- group events, to index them) takes about half the time the database's locale takes.
        event_id collate "C" as event_id,
        user_id,
        event_type,
        event_time,
        cast(event_time as date) as event_date,
        event_type in ('VIEW', 'CLICK', 'EXIT') as is_known_event_type,
        load_id
    from source
)

select * from final
