-- conflicting_users: one row, how many users are left out of q3 and q4 because their lines in
-- users.csv conflict (see int_users), and how many of them are visitors and valuable users. The
-- answers say so; this summary is what they read, on either engine.
-- Kept up to date incrementally, as the question tables are.
with base_conflicting_users as (
    select users, visitors, valuable_users
    from base_conflicting_users
),

int_user_activity_changes as (
    select sign, is_visitor, is_valuable
    from int_user_activity_changes
    where has_conflicting_rows
),

changes as (
    select
        coalesce(sum(sign), 0) as users,
        coalesce(sum(sign) filter (where is_visitor), 0) as visitors,
        coalesce(sum(sign) filter (where is_valuable), 0) as valuable_users
    from int_user_activity_changes
),

final as (
    select
        cast(sum(users) as bigint) as users,
        cast(sum(visitors) as bigint) as visitors,
        cast(sum(valuable_users) as bigint) as valuable_users
    from (
        select users, visitors, valuable_users from base_conflicting_users
        union all
        select users, visitors, valuable_users from changes
    ) as counts
)

select * from final
