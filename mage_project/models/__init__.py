"""models: the SQL blocks (transformers/*.sql) outside Mage, rendered as Mage renders them and run
into a build schema: for the SQL unit tests, the Spark pipeline and the benchmark."""
