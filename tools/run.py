"""`make run`: one run of a pipeline, executed as `mage run PROJECT PIPELINE --test` executes it (Mage's
Pipeline.execute, with the same block code, settings, variables and block tests), shown as one
line per block with its duration and row counts, then the answers of this run (by its run id,
whatever other runs publish meanwhile). Mage's own output goes to a log file named at the end; -v
(--verbose) shows it all. Without POSTGRES_HOST it runs on the embedded Postgres (tools/local_pg.py),
starting it if need be.

Each run keeps Mage's block outputs in a folder of its own (block_outputs.folder_of_its_own), so
runs at once never read each other's. The last line says what happened, and so does the exit status:
0 published, or nothing new to publish; 1 not published (the previous tables stay); 3 published, but the report could not be
written; 130 stopped by SIGINT or SIGTERM (the line says whether it had published). A signal stops
the run's statements and is recorded in audit.pipeline_runs as ``interrupted``, and its build is
dropped (unless KEEP_FAILED_BUILDS=1); a failure is recorded as ``failed``, and its build kept for
inspection for BUILD_ABANDON_SECONDS.

    python -m tools.run [--pipeline event_analytics] [-v] [--runtime-vars JSON] [--full-refresh]
                        [--from YYYY-MM-DD] [--to YYYY-MM-DD]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

from psycopg2 import sql

from mage_project.builds import block_outputs, lifecycle
from mage_project.builds.lifecycle import AUDIT, new_run_id
from mage_project.catalog import MODELS_BY_NAME, PIPELINE, PROJECT_DIR, QUESTIONS_BY_ID, numbers, question_text
from mage_project.core import db
from mage_project.core.db import error_message
from mage_project.core.settings import check_line_endings, mage_data_dir, report_path, use_project_environment
from mage_project.models.sql import block_uuids


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


@contextmanager
def imports_without_collection() -> Iterator[None]:
    """Import Mage with the cyclic garbage collector paused, then freeze what was imported.

    Importing Mage makes some 2,500 modules of long-lived objects; every collection their
    allocations trigger walks all of them again. Pausing it while importing and then moving those
    objects to the permanent generation with ``gc.freeze`` is the gc documentation's pattern for
    long-lived objects made at start-up (disable early, then freeze). Reference counting frees
    acyclic garbage meanwhile; the little cyclic garbage of the imports is frozen with them, and kept."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def reading_metadata(read, *args, seconds: float = 5.0, **kwargs):
    """``read(*args, **kwargs)``, something of Mage's that reads the pipeline's metadata.yaml, again
    while Mage finds the file empty ('Invalid pipeline config: {}'): the editor saves the file in
    place each time it runs a block (see catalog.pipeline_metadata)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return read(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - Mage raises a bare Exception for it
            if str(error) != 'Invalid pipeline config: {}' or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


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


def failed_block(error: BaseException) -> str | None:
    """The block whose code raised ``error``: the innermost traceback frame run by a Mage Block
    (Mage reports every block as ended, failed or not)."""
    from mage_ai.data_preparation.models.block import Block

    found = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        # Not `self or block`: a frame's self may be a DataFrame, which has no truth value.
        blocks = [value for value in (frame.f_locals.get('self'), frame.f_locals.get('block'))
                  if isinstance(value, Block)]
        if blocks:
            found = blocks[0].uuid
    return found


def execute(pipeline_uuid: str, global_vars: dict, clock: BlockClock) -> None:
    """Run the pipeline in this process as `mage run PROJECT PIPELINE --test` does (Mage's
    Pipeline.execute), with the run's block outputs in a folder of its own
    (block_outputs.folder_of_its_own; Mage is imported first, so its database stays in the shared
    folder)."""
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(str(PROJECT_DIR))
    sys.path.append(str(PROJECT_DIR.parent))
    with imports_without_collection():
        import mage_ai.io.postgres  # noqa: F401 - imported by every SQL block; here, while paused
        import sqlglot  # noqa: F401 - the DDL parser of start_run, likewise
        from mage_ai.data_preparation.models.pipeline import Pipeline
        from mage_ai.data_preparation.variable_manager import get_global_variables
        from mage_ai.orchestration.db import db_connection

    with block_outputs.folder_of_its_own(global_vars['run_id'], pipeline_uuid):
        db_connection.start_session()
        pipeline = reading_metadata(Pipeline.get, pipeline_uuid, repo_path=str(PROJECT_DIR))
        variables = {**get_global_variables(pipeline_uuid, pipeline=pipeline), **global_vars}
        asyncio.run(pipeline.execute(analyze_outputs=False, build_block_output_stdout=clock, global_vars=variables,
                                     run_tests=True, update_status=False))


def run_summary(run_id: str) -> tuple[dict, dict[str, int], dict[str, str]]:
    """This run's audit row, the row counts of its build's tables (scanning only those that do
    not grow with the event log) and what it did with its files, in words (nothing, if the server
    cannot be asked)."""
    try:
        return _run_summary(run_id)
    except Exception:  # noqa: BLE001 - the failure itself is in the summary's last line
        return {}, {}, {}


def _run_summary(run_id: str) -> tuple[dict, dict[str, int], dict[str, str]]:
    with db.transaction(application_name='make run') as conn, conn.cursor() as cursor:
        cursor.execute('select to_regclass(%s)', (f'{AUDIT}.pipeline_runs',))
        if cursor.fetchone()[0] is None:  # a first run on a new database that failed before start_run made it
            return {}, {}, {}
        cursor.execute(sql.SQL('select build_schema, status, dataset_dir, files, answers from {}.pipeline_runs '
                               'where run_id = %s').format(sql.Identifier(AUDIT)), (run_id,))
        row = cursor.fetchone()
        if row is None:
            return {}, {}, {}
        audit = dict(zip(('build_schema', 'status', 'dataset_dir', 'files', 'answers'), row))
        schema = audit['build_schema']
        cursor.execute('select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace '
                       "where n.nspname = %s and c.relkind = 'r'", (schema,))
        built = {name for (name,) in cursor.fetchall()}
        files = plan_words(cursor, schema, built) if 'file_plan' in built else {}
        counts = {}
        if audit['status'] in ('published', 'superseded', 'unchanged'):
            for table in sorted(built):
                model = MODELS_BY_NAME.get(table)
                if model is not None and not model.scales_with_events:
                    cursor.execute(sql.SQL('select count(*) from {}').format(sql.Identifier(schema, table)))
                    counts[table] = cursor.fetchone()[0]
            # The copies that change: counted when the run changed few (the full count's rows are
            # every distinct event: summed from the question table by date instead).
            if files.get('mode') == 'incremental':
                cursor.execute(sql.SQL('select count(*) from {}.int_event_copy_changes').format(sql.Identifier(schema)))
            else:
                cursor.execute(sql.SQL('select coalesce(sum(distinct_events), 0) from {}.duplicate_events_by_date')
                               .format(sql.Identifier(schema)))
            counts['int_event_copy_changes'] = cursor.fetchone()[0]
    return audit, counts, files


def plan_words(cursor, schema: str, built: set[str]) -> dict[str, str]:
    """What the run did with its files: a line per loader block, the summary, the missing and the
    ignored files, the run's mode (``built``: the build's tables)."""
    from mage_project.builds.plan import plan_summary, read_plan

    files, settings = read_plan(cursor, schema)
    ids = [p.load_id for p in files if p.load_id is not None]
    cursor.execute(sql.SQL('select load_id, lines_read, rows_loaded, rows_rejected from {}.file_loads '
                           'where load_id = any(%s)').format(sql.Identifier(AUDIT)), (ids,))
    counts = {row[0]: row[1:] for row in cursor.fetchall()}
    words = {'summary': plan_summary(files, settings)}
    for table in ('users', 'user_interaction'):
        mine = [p for p in files if p.file.table == table]
        read = [p for p in mine if p.action in ('new', 'changed', 'reload', 'refresh') and p.load_id in counts]
        lines, loaded, rejected = (sum(counts[p.load_id][i] for p in read) for i in range(3))
        if len(mine) == 1 and read:
            words[table] = f'{mine[0].file.relative}: {lines:,} lines, {loaded:,} loaded, {rejected:,} rejected'
        elif read:
            words[table] = (f'{len(read)} file{"s" if len(read) != 1 else ""} loaded: {lines:,} lines, '
                            f'{loaded:,} loaded, {rejected:,} rejected')
        else:
            words[table] = 'nothing new to load' if len(mine) > 1 else f'{mine[0].file.relative}: unchanged' \
                if mine else ''
    def some(names: list[str], most: int = 5) -> str:
        return ', '.join(names[:most]) + (f' and {len(names) - most} more' if len(names) > most else '')

    if settings['missing']:
        words['dropped' if settings['full_refresh'] else 'missing'] = some(settings['missing'])
    if settings['ignored']:
        words['ignored'] = some(settings['ignored'])
    if 'run_inputs' in built:
        cursor.execute(sql.SQL('select full_refresh, has_base, users_changed from {}.run_inputs').format(
            sql.Identifier(schema)))
        full, has_base, _ = cursor.fetchone()
        words['mode'] = 'full refresh' if full else 'incremental' if has_base else 'from nothing'
        cursor.execute(sql.SQL('select count(*) filter (where change > 0), count(*) filter (where change < 0) '
                               'from {}.load_changes').format(sql.Identifier(schema)))
        added, retired = cursor.fetchone()
        words['select_changes'] = f'{words["mode"]}: {added} event loads added, {retired} retired'
    return words


def block_line(uuid: str, seconds: float | None, status: str, counts: dict[str, int], files: dict[str, str]) -> str:
    detail = ''
    loader = uuid.removeprefix('spark_')  # the Spark pipeline's loaders: spark_load_users, ...
    table = loader.removeprefix('load_') if loader.startswith('load_') else uuid
    if status == 'done' and uuid in files:
        detail = files[uuid]
    elif status == 'done' and table in files:
        detail = files[table]
    elif status == 'done' and uuid == 'start_run' and 'summary' in files:
        detail = files['summary']
    elif table in counts:
        detail = f'{counts[table]:,} row' + ('' if counts[table] == 1 else 's')
    duration = f'{seconds:6.1f}s' if seconds is not None else '      -'
    return f'  {uuid:<30} {status:<9} {duration}  {detail}'.rstrip()


def spark_files(audit_files: list[dict] | None) -> dict[str, str]:
    """The Spark pipeline's loads in words, from its audit row's files (it keeps no plan)."""
    words = {}
    for table in ('users', 'user_interaction'):
        mine = [f for f in audit_files or [] if f['target_table'] == f'raw.{table}']
        if mine:
            lines, loaded, rejected = (sum(f[key] for f in mine) for key in ('lines_read', 'rows_loaded',
                                                                            'rows_rejected'))
            name = mine[0]['source_file'] if len(mine) == 1 else f'{len(mine)} files'
            words[table] = f'{name}: {lines:,} lines, {loaded:,} loaded, {rejected:,} rejected'
    return words


def print_answers(out: TextIO, answers: dict[str, str], runtime_vars: dict) -> None:
    try:
        numbers_ = numbers(runtime_vars)
    except ValueError:  # the run stopped on them; its answers are the pipeline's
        numbers_ = numbers()
    for question_id in sorted(answers):
        question = QUESTIONS_BY_ID.get(question_id)
        out.write(f'\n{question_id}. {question_text(question, numbers_) if question else ""}\n')
        out.write(textwrap.fill(answers[question_id], width=100, initial_indent='   ', subsequent_indent='   ') + '\n')


class Stopper:
    """SIGINT and SIGTERM during a run. The first one records the run as interrupted (after any
    publish in progress has committed or rolled back: end_run waits for it) and cancels the run's
    statements; the Python handler then raises KeyboardInterrupt, as Ctrl-C does, to stop Mage's loop.

    Mage's executor runs a SQL block's statement in the main thread, which waits inside libpq until
    the statement ends, and Python runs signal handlers in the main thread only, between bytecodes.
    So the stop does not wait for the handler: the C-level handler writes each signal's number to a
    socket (signal.set_wakeup_fd, the documented way to hear of a signal while the main thread is
    busy in C), and a thread of this class reads it and stops the run at once. The cancelled
    statement returns, and the handler raises."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.signal: str | None = None
        self.status: str | None = None
        self._heard, self._wakeup = socket.socketpair()
        self._wakeup.setblocking(False)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name='stop the run', daemon=True)
        self._thread.start()

    def __call__(self, signum, frame):
        self.signal = self.signal or signal.Signals(signum).name
        raise KeyboardInterrupt(self.signal)

    def _watch(self) -> None:
        heard = self._heard.recv(1)
        if not heard:  # closed: the run ended without a signal
            return
        self.signal = self.signal or signal.Signals(heard[0]).name
        try:
            self.status = lifecycle.end_run(None, self.run_id, 'interrupted', f'stopped by {self.signal}')
            lifecycle.cancel_statements(None, self.run_id)
        except Exception:  # noqa: BLE001 - outcome() records the ending again, or says it could not
            pass
        finally:
            self._stopped.set()

    def wait(self) -> None:
        """Until the stop that a signal began has done its work (if there was a signal)."""
        if self.signal is not None:
            self._stopped.wait(timeout=60)

    def close(self) -> None:
        self._wakeup.close()
        self._heard.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=60)
        self._heard.close()


@contextmanager
def stopped_by_signals(run_id: str) -> Iterator[Stopper]:
    stopper = Stopper(run_id)
    previous = {signum: signal.signal(signum, stopper) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous_wakeup = signal.set_wakeup_fd(stopper._wakeup.fileno())
    try:
        yield stopper
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        stopper.wait()
        stopper.close()


def outcome(run_id: str, error: BaseException | None, stopper: Stopper) -> str:
    """Record how the run ended (end_run: failed or interrupted, unless it has published) and drop
    an interrupted run's build; returns its status (or '' if it never registered)."""
    stopper.wait()
    if error is None and stopper.signal is None:
        return 'published'
    try:
        if stopper.signal is not None:
            status = stopper.status or lifecycle.end_run(None, run_id, 'interrupted', f'stopped by {stopper.signal}')
        else:
            status = lifecycle.end_run(None, run_id, 'failed', error_message(error))
        lifecycle.drop_ended(None, run_id, status)
        return status or ''
    except Exception:  # noqa: BLE001 - the server is gone too: the failure itself is the summary
        return ''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pipeline', default=PIPELINE)
    parser.add_argument('-v', '--verbose', action='store_true', help="show Mage's whole output instead of a summary")
    parser.add_argument('--runtime-vars', default='{}', help='pipeline variables of this run, as JSON')
    parser.add_argument('--full-refresh', action='store_true', help='rebuild from every file (full_refresh)')
    parser.add_argument('--from', dest='reload_from', help='reload the dated event files from this day (YYYY-MM-DD)')
    parser.add_argument('--to', dest='reload_to', help='... to this day, inclusive (one of the two: one day)')
    args = parser.parse_args(argv)
    use_project_environment()  # POSTGRES_* only: libpq's PGHOST, PGPORT, ... never pick the server
    run_id = new_run_id()
    started = time.monotonic()
    try:
        check_line_endings()
        runtime_vars = json.loads(args.runtime_vars)
        if not isinstance(runtime_vars, dict):
            raise ValueError(f'--runtime-vars {args.runtime_vars!r} is not a JSON object')
        runtime_vars.update({name: value for name, value in (('full_refresh', args.full_refresh or None),
                                                            ('reload_from', args.reload_from),
                                                            ('reload_to', args.reload_to)) if value})
        uuids = block_uuids(args.pipeline)
        if not os.getenv('POSTGRES_HOST'):
            # No server configured: the embedded one, started (or found running) here rather than by
            # make in a Python process of its own.
            from tools import local_pg

            os.environ.update(local_pg.start(databases=local_pg.default_databases()))
    except Exception as error:  # noqa: BLE001 - one line, not a traceback
        sys.stdout.write(f'run {run_id} of {args.pipeline} not started: {error_message(error)}\n')
        return 1
    log_path = mage_data_dir() / 'logs' / f'run_{run_id}.log'
    error = None
    with output_to(log_path, args.verbose) as out, stopped_by_signals(run_id) as stopper:
        out.write(f'run {run_id} of {args.pipeline}\n')
        clock = BlockClock(sys.stdout)
        try:
            execute(args.pipeline, {**runtime_vars, 'run_id': run_id}, clock)
        except BaseException as raised:  # noqa: BLE001 - reported below, with the block it came from
            error = raised
            traceback.print_exc()
    status = outcome(run_id, error, stopper)
    audit, counts, files = run_summary(run_id)
    if not files:
        files = spark_files((audit or {}).get('files'))
    culprit = failed_block(error) if error is not None else None
    failed = culprit if stopper.signal is None else None
    for uuid in uuids:
        state = (('stopped' if stopper.signal else 'failed') if uuid == culprit else
                 'done' if uuid in clock.ended else 'not run')
        sys.stdout.write(block_line(uuid, clock.seconds(uuid), state, counts, files) + '\n')
    for what, label in (('missing', 'missing (their rows are kept; a full refresh drops them)'),
                        ('dropped', 'dropped by the full refresh (no longer in the folder)'),
                        ('ignored', 'ignored (not event files)')):
        if files.get(what):
            sys.stdout.write(f'\n{label}: {files[what]}\n')
    total = time.monotonic() - started
    published = status in ('published', 'superseded', 'unchanged')
    log_line = '' if args.verbose else f'Full log: {log_path}\n'
    if stopper.signal is not None:
        what = ('it had published, and analytics.* hold its answers; what came after did not finish'
                if published else 'nothing was published, and the previous tables stay')
        sys.stdout.write(f'\nrun {run_id} interrupted by {stopper.signal} after {total:.1f}s: {what}\n' + log_line)
        return 130
    if error is not None and not published:
        sys.stdout.write(f'\nrun {run_id} failed in {failed or "the pipeline"} after {total:.1f}s, not published '
                         f'(the previous tables stay): {error_message(error)}\n' + log_line)
        return 1
    ending = audit.get('status', status)
    what = f' ({files["summary"]})' if files.get('summary') else ''
    if ending == 'unchanged':
        sys.stdout.write(f'\nrun {run_id}: nothing new, nothing published; analytics.* unchanged, in {total:.1f}s, '
                         f'from {audit.get("dataset_dir")}{what}\n')
    else:
        sys.stdout.write(f'\nrun {run_id} {ending} in {total:.1f}s, from {audit.get("dataset_dir")}{what}\n')
    print_answers(sys.stdout, audit.get('answers') or {}, runtime_vars)
    if error is not None:
        sys.stdout.write(f'\nrun {run_id} published, but {failed or "a block after the publish"} failed: '
                         f'{error_message(error)}; the report at {report_path()} was not written\n' + log_line)
        return 3
    sys.stdout.write(f'\nReport: {report_path()}\n' + log_line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
