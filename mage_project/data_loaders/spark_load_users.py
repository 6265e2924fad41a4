from mage_project.ingest.load import check_loads
from mage_project.spark import load as spark_load

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def spark_load_users(*args, **kwargs):
    """Read users.csv (or .csv.gz) with Spark into this run's view of raw users; its rejected
    lines, adjusted values and counts go to the build schema in Postgres, as in the Postgres
    pipeline. Outputs: the file's line counts (read, loaded, rejected) and a sample of the rows."""
    spark = spark_load.session(kwargs)
    return spark_load.load_table(spark, 'users', kwargs), spark_load.sample_rows(spark, 'users')


@test
def test_every_line_loaded_or_rejected(report, sample, *args) -> None:
    check_loads(report)
