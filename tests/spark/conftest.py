"""A SparkSession for the tests that run the Spark pipeline's logic in-process (local[2], the
project's spark_config), started once per session and stopped at its end."""
from __future__ import annotations

import pytest

from tests.support.spark_engines import spark_conf


@pytest.fixture(scope='session')
def spark():
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    session = builder.config('spark.ui.enabled', 'false').getOrCreate()
    session.sparkContext.setLogLevel('ERROR')
    yield session
    session.stop()
