# Q2: surplus copies of exact duplicates, on the dates that have any, most first;
# df_1 is duplicate_events_by_date.
from mage_project.answers.charts import widget_xy

x, y = widget_xy('q2', df_1)  # noqa: F821 - Mage passes the upstream block's output as df_1
