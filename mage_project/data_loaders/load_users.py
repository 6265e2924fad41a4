from mage_project.utils.raw_load import check_load_balanced, load_raw_table, sample_rows, start_run

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_users(*args, **kwargs):
    """Start the run (check every input file, take the run lock, create empty build schemas),
    then stream users.csv into raw.users. Output: one row of line counts for the file."""
    start_run()
    report = load_raw_table('users')
    print(sample_rows('users').to_string(index=False))
    return report


@test
def test_every_line_loaded_or_rejected(output, *args) -> None:
    check_load_balanced(output, 'users')
