"""spark: the same questions on a Spark cluster (the event_analytics_spark pipeline).

- load: the files read with Spark, with the Postgres loader's rules (ingest.dialect on the executors)
- sql: the Postgres pipeline's SQL blocks translated to Spark SQL
- models: those blocks run on Spark, the small results written to Postgres
"""
