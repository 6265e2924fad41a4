"""make run's one line per block: a loader shows what the run did with its files, on either
pipeline; other blocks their table's rows. And the pause of the collector while Mage is imported."""
import gc

from tools.run import block_line, imports_without_collection, spark_files

FILES = [{'target_table': 'raw.users', 'source_file': 'users.csv', 'lines_read': 4, 'rows_loaded': 3,
          'rows_rejected': 1}]


def test_a_loader_shows_what_the_run_did_with_its_files_on_either_pipeline():
    words = {'users': 'users.csv: 4 lines, 3 loaded, 1 rejected', 'user_interaction': 'nothing new to load',
             'summary': '0 new files, 40 unchanged, users.csv loaded'}
    assert block_line('load_users', 1.25, 'done', {}, words) == (
        f'  {"load_users":<30} done         1.2s  users.csv: 4 lines, 3 loaded, 1 rejected')
    assert block_line('load_user_interaction', 0.1, 'done', {}, words).endswith('0.1s  nothing new to load')
    assert block_line('start_run', 0.1, 'done', {}, words).endswith('0.1s  0 new files, 40 unchanged, users.csv loaded')
    assert block_line('spark_load_users', 1.25, 'done', {}, spark_files(FILES)) == (
        f'  {"spark_load_users":<30} done         1.2s  users.csv: 4 lines, 3 loaded, 1 rejected')
    assert block_line('load_users', None, 'not run', {}, words).endswith('not run         -')


def test_other_blocks_show_their_rows_or_nothing():
    assert block_line('stg_users', 0.5, 'done', {'stg_users': 2}, {}).endswith('0.5s  2 rows')
    assert block_line('conflicting_users', 0.2, 'done', {'conflicting_users': 1}, {}).endswith('0.2s  1 row')
    assert block_line('spark_models', None, 'failed', {}, {}).endswith('failed          -')
    assert block_line('load_user_interaction', 0.1, 'done', {}, {}).endswith('0.1s')


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
