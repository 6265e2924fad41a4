# Orphan events (user_id not in users) per event type; df_1 is the orphan_events_by_type table.
x = df_1['event_type'].astype(str)
y = df_1['orphan_events']
