from mage_project.catalog import SPARK_TO_POSTGRES
from mage_project.spark import load as spark_load
from mage_project.spark.models import build_models

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def spark_models(*args, **kwargs):
    """Run the Postgres pipeline's SQL blocks (stg_users ... valuable_users_by_age_group),
    translated to Spark SQL with sqlglot, on Spark; check the totals contracts there; write the
    four question tables and the conflicting-users summary to the build schema in Postgres.
    Output: each table written and its rows."""
    return build_models(spark_load.session(kwargs), kwargs)


@test
def test_every_small_table_is_written(output, *args) -> None:
    assert tuple(output.table) == SPARK_TO_POSTGRES, output
    assert (output.rows > 0).all(), output
