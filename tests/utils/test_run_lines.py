"""make run's one line per block: a loader shows its file's counts from the run's audit, on either
pipeline; other blocks their table's rows. And the import of Mage that its fixed cost is made of."""
import gc
import json
import subprocess
import sys
import textwrap

import pytest

from mage_project.utils.run import DeferredModule, block_line, imports_trimmed, imports_without_collection
from tests.conftest import REPO, unconfigured_environ

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


def test_trimmed_imports_skip_one_module_defer_another_and_leave_neither_behind(tmp_path, monkeypatch):
    # probe_deferred records each time its body runs; probe_skipped must not import at all.
    (tmp_path / 'probe_deferred.py').write_text(
        "import pathlib\nruns = pathlib.Path(__file__).with_suffix('.runs')\n"
        "runs.write_text(runs.read_text() + 'ran ' if runs.exists() else 'ran ')\nVALUE = 42\n")
    (tmp_path / 'probe_skipped.py').write_text('VALUE = 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    runs = tmp_path / 'probe_deferred.runs'
    try:
        with imports_trimmed(skipped=['probe_skipped', 'json'], deferred=['probe_deferred']):
            with pytest.raises(ImportError):
                import probe_skipped  # noqa: F401
            import probe_deferred
            assert isinstance(probe_deferred, DeferredModule) and not runs.exists(), 'deferred, not run'
            import json as already_imported
            assert already_imported is json, 'a module imported before is left as it is'
            held = probe_deferred
        assert 'probe_skipped' not in sys.modules and 'probe_deferred' not in sys.modules
        assert held.VALUE == 42 and runs.read_text() == 'ran ', 'the first use runs the real module, once'
        import probe_deferred as real
        assert not isinstance(real, DeferredModule) and real.VALUE == 42 and held.VALUE == 42
        assert runs.read_text() == 'ran '
        import probe_skipped as later
        assert later.VALUE == 1, 'a skipped module imports as usual afterwards'
    finally:
        sys.modules.pop('probe_deferred', None)
        sys.modules.pop('probe_skipped', None)


def test_a_deferred_module_used_while_importing_becomes_the_real_one(tmp_path, monkeypatch):
    (tmp_path / 'probe_used.py').write_text('VALUE = 7\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with imports_trimmed(skipped=[], deferred=['probe_used']):
            import probe_used
            assert probe_used.VALUE == 7
            assert not isinstance(sys.modules['probe_used'], DeferredModule)
        assert sys.modules['probe_used'].VALUE == 7, 'the real module stays once it is imported'
    finally:
        sys.modules.pop('probe_used', None)


@pytest.mark.slow  # imports Mage in a fresh interpreter
def test_make_run_imports_mage_without_what_it_leaves_out_and_all_of_it_works_afterwards(tmp_path):
    # What a run of Mage imports, as make run imports it: IPython, scipy.stats, paramiko and requests
    # stay out, and nothing stands in for them afterwards. Then scikit-learn's use of scipy.stats and
    # sshtunnel's of paramiko reach the real modules, IPython and requests import as usual, and
    # memory_profiler has taken its fallback without IPython.
    script = textwrap.dedent("""
        import json, sys
        from mage_ai.settings.repo import set_repo_path
        from mage_project.utils import run
        set_repo_path(str(run.PROJECT_DIR))
        run.import_mage()
        seen = {'mage': 'mage_ai.data_preparation.models.pipeline' in sys.modules,
                'left out': [name for name in ('IPython', 'scipy.stats', 'paramiko', 'requests')
                             if name in sys.modules]}
        import numpy as np
        from sklearn.utils.fixes import _mode
        seen['mode'] = int(_mode(np.array([3, 1, 3])).mode)
        seen['stats_real'] = type(sys.modules['scipy.stats']).__name__ == 'module'
        import IPython, memory_profiler
        seen['ipython_real'] = hasattr(IPython, 'embed')
        import paramiko, requests, sshtunnel
        seen['paramiko_real'] = sshtunnel.paramiko.SSHClient is paramiko.SSHClient
        seen['requests_real'] = type(requests).__name__ == 'module' and hasattr(requests, 'Session')
        seen['memory_profiler_fallback'] = memory_profiler.Magics is object
        print(json.dumps(seen))
    """)
    env = unconfigured_environ() | {'MAGE_DATA_DIR': str(tmp_path / 'mage_data'), 'PYTHONPATH': str(REPO)}
    result = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        'mage': True, 'left out': [], 'mode': 3, 'stats_real': True, 'ipython_real': True,
        'paramiko_real': True, 'requests_real': True, 'memory_profiler_fallback': True}
