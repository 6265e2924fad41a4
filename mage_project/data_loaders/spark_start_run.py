from mage_project.spark import load as spark_load

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def spark_start_run(*args, **kwargs):
    """Start a run of the Spark pipeline: check the settings and the input files through Spark
    (DATASET_DIR may be any URI Spark reads), then create this run's build schema in Postgres
    (build_<run id>) with the evidence tables; raw events stay in Spark. Output: one row, the run
    id, its schema and the Spark master."""
    import pandas as pd

    spark = spark_load.session(kwargs)
    build = spark_load.start_run(spark, kwargs)
    return pd.DataFrame([{'run_id': build.run_id, 'build_schema': build.schema,
                          'spark_master': spark.sparkContext.master}])


@test
def test_the_run_has_a_build(output, *args) -> None:
    assert len(output) == 1 and output.build_schema.iloc[0].startswith('build_'), output
