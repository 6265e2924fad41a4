# Valuable users (5+ VIEW, 10+ CLICK) per stored age label; df_1 is the valuable_users_by_age_group table.
x = df_1['age_group'].astype(str)
y = df_1['valuable_users']
