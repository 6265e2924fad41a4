"""`make run`: one run of a pipeline through Mage, shown as one line per block with its duration
and row counts, then the answers of this run (by its run id, whatever other runs publish
meanwhile). Mage's own output goes to a log file named at the end; -v (--verbose) shows it all. Without
POSTGRES_HOST it runs on the embedded Postgres (utils/local_pg.py), starting it if need be.

    python -m mage_project.utils.run [--pipeline event_analytics] [-v] [--runtime-vars JSON]
"""
from __future__ import annotations

import atexit
import os
import sys

EXIT_STATUS = 1  # what the process exits with when run as a script; main's return value once it has one


def exit_without_teardown() -> None:
    """The last exit handler of `make run`: end the process once every other handler (logging's,
    weakref.finalize's, multiprocessing's, pyspark's and the rest) has run, skipping the interpreter's
    teardown, which frees the objects of Mage's some 2,500 modules one by one (about 0.1 s of each run
    here). Nothing is lost: the standard streams are flushed here, and the files the run wrote are
    closed by then. The same trade as gc.freeze below, from the same source (Instagram's "Dismissing
    Python Garbage Collection at Instagram": atexit.register(os._exit, 0))."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STATUS)


if __name__ == '__main__':
    # Before any import registers a handler of its own: handlers run last in, first out.
    atexit.register(exit_without_teardown)

import argparse
import asyncio
import gc
import importlib
import json
import textwrap
import time
import traceback
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from psycopg2 import sql

from mage_project.utils.builds import AUDIT, new_run_id
from mage_project.utils.settings import PROJECT_DIR, mage_data_dir, report_path
from mage_project.utils.sql_blocks import block_uuids

PIPELINE = 'event_analytics'


class BlockClock:
    """Mage's build_block_output_stdout: called when a block starts and, with
    execution_state='idle', when it ends; records both and sends the block's output to ``stream``."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def __call__(self, block_uuid: str, execution_state: str | None = None, **_) -> TextIO:
        now = time.monotonic()
        if execution_state == 'idle':
            self.ended[block_uuid] = now
        else:
            self.started.setdefault(block_uuid, now)
        return self.stream

    def seconds(self, block_uuid: str) -> float | None:
        if block_uuid in self.started and block_uuid in self.ended:
            return self.ended[block_uuid] - self.started[block_uuid]
        return None


@contextmanager
def output_to(path: Path, verbose: bool) -> Iterator[TextIO]:
    """Send everything written to file descriptors 1 and 2 (Mage's prints, its loggers, warnings
    of libraries) to ``path``; yields a stream to the real standard output. With ``verbose``,
    nothing is redirected."""
    if verbose:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    with path.open('w') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        real = os.fdopen(os.dup(saved_out), 'w', buffering=1)
        try:
            yield real
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            real.close()


def failed_block(error: BaseException) -> str | None:
    """The block whose code raised ``error``: the innermost traceback frame run by a Mage Block."""
    from mage_ai.data_preparation.models.block import Block

    found = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        candidate = frame.f_locals.get('self') or frame.f_locals.get('block')
        if isinstance(candidate, Block):
            found = candidate.uuid
    return found


@contextmanager
def imports_without_collection() -> Iterator[None]:
    """Import Mage with the cyclic garbage collector paused, then freeze what was imported.

    Importing Mage makes some 2,500 modules of long-lived objects; every collection their
    allocations trigger walks all of them again, and so does the one at exit. Pausing it while
    importing and then moving those objects to the permanent generation with ``gc.freeze`` (the
    gc documentation's pattern for servers that fork: disable early, then freeze) takes about a
    second off each `make run` here. Reference counting frees acyclic garbage meanwhile; the
    little cyclic garbage of the imports (some 1,300 objects) is frozen with them, and kept."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


# What importing Mage pulls in that a run never uses, about 0.7 s of each `make run` here:
# - IPython, which memory_profiler imports for its notebook magics only; without it, memory_profiler
#   takes its own fallback (``except ImportError``), and there is no notebook here for the magics;
# - scipy.stats, which scikit-learn imports at start-up (sklearn/utils/fixes.py) and uses only inside
#   functions that no run calls;
# - paramiko, which sshtunnel imports for Postgres over an SSH tunnel, and requests, which Mage's
#   HTTP clients import (the Spark UI's, the first): both used only inside functions.
# A deferred module is imported when first used, so a run that needs one (a tunnel) still has it.
SKIPPED_IMPORTS = ('IPython',)
DEFERRED_IMPORTS = ('scipy.stats', 'paramiko', 'requests')


class DeferredModule(types.ModuleType):
    """Stands in for a module in sys.modules while Mage is imported (imports_trimmed). The first
    attribute read from it imports the real module, which takes its place, and reads from that."""

    def __getattr__(self, name: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


@contextmanager
def imports_trimmed(skipped: Iterable[str] = SKIPPED_IMPORTS,
                    deferred: Iterable[str] = DEFERRED_IMPORTS) -> Iterator[None]:
    """Within this block, importing a ``skipped`` module raises ImportError (Python's own meaning
    of None in sys.modules) and importing a ``deferred`` one gives a DeferredModule, which imports
    the real one when it is first used. Afterwards both import as usual: nothing is left in
    sys.modules, so whatever a block imports later is the real module. Modules already imported
    are left as they are."""
    placed: dict[str, DeferredModule | None] = {name: None for name in skipped if name not in sys.modules}
    placed.update({name: DeferredModule(name) for name in deferred if name not in sys.modules})
    sys.modules.update(placed)
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if name in sys.modules and sys.modules[name] is stand_in:
                del sys.modules[name]


def import_mage() -> None:
    """Import what a run of Mage uses, with the collector paused and without what imports_trimmed
    leaves out."""
    with imports_without_collection(), imports_trimmed():
        import mage_ai.data_preparation.models.pipeline  # noqa: F401
        import mage_ai.data_preparation.variable_manager  # noqa: F401
        import mage_ai.io.postgres  # noqa: F401 - imported by every SQL block; here, while paused
        import mage_ai.orchestration.db  # noqa: F401
        import sqlglot  # noqa: F401 - the DDL parser of start_run, likewise


def execute(pipeline_uuid: str, global_vars: dict, clock: BlockClock) -> None:
    """Run the pipeline in this process, as `mage run PROJECT PIPELINE --test` does."""
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(str(PROJECT_DIR))
    sys.path.append(str(PROJECT_DIR.parent))
    import_mage()
    from mage_ai.data_preparation.models.pipeline import Pipeline
    from mage_ai.data_preparation.variable_manager import get_global_variables
    from mage_ai.orchestration.db import db_connection

    db_connection.start_session()
    pipeline = Pipeline.get(pipeline_uuid, repo_path=str(PROJECT_DIR))
    variables = {**get_global_variables(pipeline_uuid), **global_vars}
    asyncio.run(pipeline.execute(analyze_outputs=False, build_block_output_stdout=clock, global_vars=variables,
                                 run_tests=True, update_status=False))


# Tables whose row count is known without scanning them: the loaders' counts are in the audit's
# files, and stg_user_interaction has one row per loaded event (a publish contract checks it).
COUNTED_ELSEWHERE = {'users', 'user_interaction', 'rejected_rows', 'adjusted_values', 'load_audit',
                     'stg_user_interaction'}


def run_summary(run_id: str) -> tuple[dict, dict[str, int]]:
    """This run's audit row and the row counts of its build's tables, scanning only the small ones."""
    from mage_project.utils import db

    with db.transaction(application_name='make run') as conn, conn.cursor() as cursor:
        cursor.execute('select to_regclass(%s)', (f'{AUDIT}.pipeline_runs',))
        if cursor.fetchone()[0] is None:  # a first run on a new database that failed before start_run made it
            return {}, {}
        cursor.execute(sql.SQL('select build_schema, status, dataset_dir, files, answers from {}.pipeline_runs '
                               'where run_id = %s').format(sql.Identifier(AUDIT)), (run_id,))
        row = cursor.fetchone()
        if row is None:
            return {}, {}
        audit = dict(zip(('build_schema', 'status', 'dataset_dir', 'files', 'answers'), row))
        cursor.execute('select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace '
                       "where n.nspname = %s and c.relkind = 'r'", (audit['build_schema'],))
        counts = {}
        for (table,) in cursor.fetchall():
            if table not in COUNTED_ELSEWHERE:
                cursor.execute(sql.SQL('select count(*) from {}.{}').format(
                    sql.Identifier(audit['build_schema']), sql.Identifier(table)))
                counts[table] = cursor.fetchone()[0]
    events = [f for f in audit['files'] or [] if f['target_table'] == 'raw.user_interaction']
    if events:
        counts['stg_user_interaction'] = events[0]['rows_loaded']
    return audit, counts


def block_line(uuid: str, seconds: float | None, status: str, counts: dict[str, int], files: list[dict]) -> str:
    detail = ''
    loaded = {f['target_table'].split('.', 1)[1]: f for f in files or []}
    loader = uuid.removeprefix('spark_')  # the Spark pipeline's loaders: spark_load_users, ...
    table = loader.removeprefix('load_') if loader.startswith('load_') else uuid
    if table in loaded:
        f = loaded[table]
        detail = (f"{f['source_file']}: {f['lines_read']:,} lines, {f['rows_loaded']:,} loaded, "
                  f"{f['rows_rejected']:,} rejected")
    elif table in counts:
        detail = f'{counts[table]:,} row' + ('' if counts[table] == 1 else 's')
    duration = f'{seconds:6.1f}s' if seconds is not None else '      -'
    return f'  {uuid:<30} {status:<9} {duration}  {detail}'.rstrip()


def print_answers(out: TextIO, answers: dict[str, str]) -> None:
    from mage_project.utils.sentences import QUESTIONS

    for question_id in sorted(answers):
        out.write(f'\n{question_id}. {QUESTIONS.get(question_id, "")}\n')
        out.write(textwrap.fill(answers[question_id], width=100, initial_indent='   ', subsequent_indent='   ') + '\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pipeline', default=PIPELINE)
    parser.add_argument('-v', '--verbose', action='store_true', help="show Mage's whole output instead of a summary")
    parser.add_argument('--runtime-vars', default='{}', help='pipeline variables of this run, as JSON')
    args = parser.parse_args(argv)
    if not os.getenv('POSTGRES_HOST'):
        # No server configured: the embedded one, started (or found running) here rather than by
        # make in a Python process of its own, which cost about 0.1 s of each run.
        from mage_project.utils import local_pg

        os.environ.update(local_pg.start(databases=local_pg.default_databases()))
    run_id = new_run_id()
    log_path = mage_data_dir() / 'logs' / f'run_{run_id}.log'
    started = time.monotonic()
    error = None
    with output_to(log_path, args.verbose) as out:
        out.write(f'run {run_id} of {args.pipeline}\n')
        clock = BlockClock(sys.stdout)
        try:
            execute(args.pipeline, {**json.loads(args.runtime_vars), 'run_id': run_id}, clock)
        except BaseException as raised:  # noqa: BLE001 - reported below, with the block it came from
            error = raised
            traceback.print_exc()
    audit, counts = run_summary(run_id) if not isinstance(error, KeyboardInterrupt) else ({}, {})
    failed = failed_block(error) if error else None
    for uuid in block_uuids(args.pipeline):
        status = 'failed' if uuid == failed else ('done' if uuid in clock.ended else 'not run')
        out_line = block_line(uuid, clock.seconds(uuid), status, counts, (audit or {}).get('files'))
        sys.stdout.write(out_line + '\n')
    total = time.monotonic() - started
    if error is not None:
        message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        sys.stdout.write(f'\nrun {run_id} failed in {failed or "the pipeline"} after {total:.1f}s: '
                         f'{type(error).__name__}: {message}\n')
        if not args.verbose:
            sys.stdout.write(f'Full log: {log_path}\n')
        return 1
    sys.stdout.write(f'\nrun {run_id} {audit.get("status", "?")} in {total:.1f}s, from {audit.get("dataset_dir")}\n')
    print_answers(sys.stdout, audit.get('answers') or {})
    sys.stdout.write(f'\nReport: {report_path()}\n')
    if not args.verbose:
        sys.stdout.write(f'Full log: {log_path}\n')
    return 0


if __name__ == '__main__':
    EXIT_STATUS = main()
    sys.exit(EXIT_STATUS)
