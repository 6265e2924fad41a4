from mage_project.builds.plan import select_changes as changes_of_the_run

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def select_changes(*args, **kwargs):
    """What this run changes, as the inputs of its SQL models (builds/state.py): the rows of the
    loads it adds (+1) or retires (-1), users.csv if it changed, and the published state to add
    to. Every SQL block after this one computes only what changes. Output: one row, the files in
    words, the loads added and retired, and whether there is anything new to publish."""
    return changes_of_the_run(kwargs)


@test
def test_the_run_says_what_it_changes(output, *args) -> None:
    assert len(output) == 1 and output['changes'].iloc[0], output
