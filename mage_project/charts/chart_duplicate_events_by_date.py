# Surplus copies of exact duplicate rows per event date; df_1 is the duplicate_events_by_date table.
x = df_1['event_date'].astype(str)
y = df_1['surplus_copies']
