# Q4: valuable users (5+ VIEW, 10+ CLICK) per stored age label and where it falls against 18-49
# and 50-80; df_1 is valuable_users_by_age_group.
from mage_project.answers.charts import widget_xy

x, y = widget_xy('q4', df_1)  # noqa: F821 - Mage passes the upstream block's output as df_1
