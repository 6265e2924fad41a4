"""make run's one line per block: a loader shows its file's counts from the run's audit, on either
pipeline; other blocks their table's rows. And the pause of the collector while Mage is imported."""
import gc

from tools.run import block_line, imports_without_collection

FILES = [{'target_table': 'raw.users', 'source_file': 'users.csv', 'lines_read': 4, 'rows_loaded': 3,
          'rows_rejected': 1}]


def test_a_loader_shows_its_file_counts_on_either_pipeline():
    for uuid in ('load_users', 'spark_load_users'):
        assert block_line(uuid, 1.25, 'done', {}, FILES) == (
            f'  {uuid:<30} done         1.2s  users.csv: 4 lines, 3 loaded, 1 rejected')


def test_other_blocks_show_their_rows_or_nothing():
    assert block_line('stg_users', 0.5, 'done', {'stg_users': 2}, FILES).endswith('0.5s  2 rows')
    assert block_line('conflicting_users', 0.2, 'done', {'conflicting_users': 1}, FILES).endswith('0.2s  1 row')
    assert block_line('spark_models', None, 'failed', {}, FILES).endswith('failed          -')
    assert block_line('load_user_interaction', 0.1, 'done', {}, FILES).endswith('0.1s')


def test_imports_pause_the_collector_and_freeze_what_they_made():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with imports_without_collection():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
        gc.disable()
        with imports_without_collection():
            pass
        assert not gc.isenabled(), 'a collector the caller had paused stays paused'
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_failed_block_is_the_innermost_frame_of_a_block_whatever_else_the_frames_hold():
    import pandas as pd
    from mage_ai.data_preparation.models.block import Block

    from tools.run import failed_block

    def inner(self):  # a pandas method's frame: self is a DataFrame, which has no truth value
        raise KeyboardInterrupt('SIGTERM')

    def outer(block):
        inner(pd.DataFrame({'a': [1, 2]}))

    block = Block.__new__(Block)
    block.uuid = 'stg_users'
    try:
        outer(block)
    except KeyboardInterrupt as error:
        assert failed_block(error) == 'stg_users'
