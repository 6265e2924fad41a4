# Visitors (known users with events) per country; df_1 is the visitors_by_country table.
x = df_1['country'].astype(str)
y = df_1['visitors']
