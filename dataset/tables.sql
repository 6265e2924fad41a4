-- The raw tables: the same two tables and column types as the take-home's DDL.
create table users (
    user_id int,
    age varchar(5),
    country varchar(2)
);

create table user_interaction (
    event_id varchar(36),
    user_id int,
    event_type varchar(5),
    event_time timestamp
);
