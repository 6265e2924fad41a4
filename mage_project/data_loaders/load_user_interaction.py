from mage_project.utils.raw_load import check_load_balanced, load_raw_table, sample_rows

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_user_interaction(*args, **kwargs):
    """Stream user_interaction.csv into raw.user_interaction (load_users has started the run).
    Output: one row of line counts for the file."""
    report = load_raw_table('user_interaction')
    print(sample_rows('user_interaction').to_string(index=False))
    return report


@test
def test_every_line_loaded_or_rejected(output, *args) -> None:
    check_load_balanced(output, 'user_interaction')
