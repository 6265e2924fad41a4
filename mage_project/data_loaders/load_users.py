from mage_project.builds.lifecycle import current, ensure_owned
from mage_project.ingest.load import check_load_balanced, check_load_report, load_raw_table, sample_rows

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_users(*args, **kwargs):
    """Stream users.csv into this run's raw users table (start_run made it).
    Outputs: the file's line counts (read, loaded, rejected) and a sample of the loaded rows."""
    build = ensure_owned()
    return load_raw_table(build.schema, build.run_id, 'users', kwargs), sample_rows(build.schema, 'users')


@test
def test_every_line_loaded_or_rejected(report, sample, *args) -> None:
    check_load_report(report, sample)
    check_load_balanced(report, current().schema, 'users')
