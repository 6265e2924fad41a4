from mage_project.builds.plan import load_planned, select_users
from mage_project.ingest.load import check_loads, check_loads_stored, sample_rows

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_users(*args, **kwargs):
    """Stream users.csv into a table of its own in store, if it changed since it was published
    (one full snapshot of the users). Outputs: the file's row (what the run did with it, the line
    counts of the load that holds it) and a sample of its rows. Then it gives the SQL models the
    users they read (select_users), so that stg_users and int_users build while the events load."""
    report = load_planned('users', kwargs)
    select_users(kwargs)
    return report, sample_rows([int(x) for x in report.load_id.dropna()])


@test
def test_every_line_loaded_or_rejected(report, sample, *args) -> None:
    check_loads(report)
    check_loads_stored(report)
