from mage_project.builds.start import start_run as begin_run

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def start_run(*args, **kwargs):
    """Start a run: check the settings and every input file, create this run's build schema
    (build_<run id>), registered in audit.pipeline_runs, and decide what it does with each file
    against the manifest of loaded files (new, changed, unchanged, re-delivered, missing; the
    pipeline variables full_refresh, reload_from and reload_to). Every later block of this process
    works in that schema. Output: one row, the run id, its schema and its plan in words."""
    import pandas as pd

    build, plan = begin_run(kwargs)
    return pd.DataFrame([{'run_id': build.run_id, 'build_schema': build.schema, 'files': plan.summary()}])


@test
def test_the_run_has_a_build(output, *args) -> None:
    assert len(output) == 1 and output.build_schema.iloc[0].startswith('build_'), output
