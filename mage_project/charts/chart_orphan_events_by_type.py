# Q1: orphan events (user_id not in users) per event type; df_1 is orphan_events_by_type.
from mage_project.answers.charts import widget_xy

x, y = widget_xy('q1', df_1)  # noqa: F821 - Mage passes the upstream block's output as df_1
