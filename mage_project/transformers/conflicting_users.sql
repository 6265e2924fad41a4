-- conflicting_users: one row, how many users are left out of q3 and q4 because their lines in
-- users.csv conflict (see int_users), and how many of them are visitors and valuable users. The
-- answers say so; this summary is what they read, on either engine.
with int_user_activity as (
    select is_visitor, is_valuable
    from int_user_activity
    where has_conflicting_rows
),

final as (
    select
        count(*) as users,
        count(*) filter (where is_visitor) as visitors,
        count(*) filter (where is_valuable) as valuable_users
    from int_user_activity
)

select * from final
