# Q3: visitors (known users with events) per country, most first; df_1 is visitors_by_country.
from mage_project.answers.charts import widget_xy

x, y = widget_xy('q3', df_1)  # noqa: F821 - Mage passes the upstream block's output as df_1
