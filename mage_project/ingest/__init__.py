"""ingest: from the input files to a run's raw tables.

- dialect: one line of the take-home's CSV dialect to values or a rejection (standard library only:
  the Spark executors run it)
- ddl: tables.sql to the raw tables' column types
- files: finding and checking the input files, on this machine or through Spark's file systems
- load: the Postgres pipeline's COPY of a file into its raw table
- evidence: rejected_rows, adjusted_values and load_audit, kept beside the rows
"""
