from mage_project.builds.start import start_run as begin_run

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def start_run(*args, **kwargs):
    """Start a run: check the settings and every input file, then create this run's build schema
    (build_<run id>) with the empty raw tables, registered in audit.pipeline_runs. Every later
    block of this process works in that schema. Output: one row, the run id and its schema."""
    import pandas as pd

    build = begin_run(kwargs)
    return pd.DataFrame([{'run_id': build.run_id, 'build_schema': build.schema}])


@test
def test_the_run_has_a_build(output, *args) -> None:
    assert len(output) == 1 and output.build_schema.iloc[0].startswith('build_'), output
