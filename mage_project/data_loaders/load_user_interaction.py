from mage_project.builds.plan import load_planned
from mage_project.ingest.load import check_loads, check_loads_stored, sample_rows

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_user_interaction(*args, **kwargs):
    """Stream each new or changed event file into a table of its own in store, one transaction per
    file (user_interaction.csv, or the files of the folder user_interaction/). Outputs: a row per
    event file (what the run did with it: new, changed, unchanged, re-delivered, ...; the line
    counts of the load that holds it) and a sample of the rows this run loaded."""
    report = load_planned('user_interaction', kwargs)
    loaded = report[report.action.isin(('new', 'changed', 'reload', 'refresh'))]
    return report, sample_rows([int(x) for x in loaded.load_id.dropna()])


@test
def test_every_line_loaded_or_rejected(report, sample, *args) -> None:
    check_loads(report)
    check_loads_stored(report)
