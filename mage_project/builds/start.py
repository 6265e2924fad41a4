"""The start of a run: check the settings, the input files and the database before any work, then
register the run's build (lifecycle.begin). Both pipelines start here; the Postgres pipeline's
run then decides what it does with each file (its plan, kept in the build)."""
from __future__ import annotations

from typing import Callable

from mage_project.builds import block_outputs, lifecycle
from mage_project.builds.plan import record_plan
from mage_project.core import db
from mage_project.core.settings import (
    ConfigurationError,
    analytics_reader_roles,
    build_abandon_seconds,
    check_settings,
    connection_settings,
    current_env,
    dataset_dir,
    full_refresh,
    interval_window,
    reload_window,
    use_project_environment,
)
from mage_project.ingest.dialect import Table
from mage_project.ingest.files import Inputs, LocalFiles, check_input_files
from mage_project.ingest.manifest import Plan, plan_files


def check_database_encoding(conn) -> None:
    """The pipeline loads UTF-8 text; a database in another encoding (LATIN1, SQL_ASCII) cannot
    hold every value, so the run stops before any work, naming the database and its encoding."""
    with conn.cursor() as cursor:
        cursor.execute('select current_database(), pg_encoding_to_char(encoding) from pg_database '
                       'where datname = current_database()')
        name, encoding = cursor.fetchone()
    if encoding != 'UTF8':
        raise ConfigurationError(
            f'database {name} has encoding {encoding}; the pipeline needs UTF8, since the input files '
            f"are UTF-8 (create it with: create database {name} encoding 'UTF8' template template0)")


def check_reader_roles(conn, settings) -> None:
    """Every role of ANALYTICS_READER_ROLES exists on the server, checked at the start rather than at
    the publish, after the whole run's work."""
    roles = analytics_reader_roles()
    with conn.cursor() as cursor:
        cursor.execute('select name from unnest(%s::text[]) as name where not exists '
                       '(select from pg_roles where rolname = name)', (roles,))
        missing = [name for (name,) in cursor.fetchall()]
    if missing:
        raise ConfigurationError(f'ANALYTICS_READER_ROLES names {", ".join(missing)}, which '
                                 f'{"does" if len(missing) == 1 else "do"} not exist on {settings.describe()}; '
                                 'create the role (create role ... nologin) or remove it from the list')


def open_build(run_variables: dict | None, dataset: str,
               check_inputs: Callable[[], tuple[dict[str, Table], Inputs]]
               ) -> tuple[lifecycle.Build, tuple[dict[str, Table], Inputs]]:
    """Check the settings, the input files (``check_inputs``, which returns the DDL's tables and the
    files) and the database, then register a new build (build_<run id>). ``run_id`` may come from the run's
    variables (make run passes one, to print this run's answers); otherwise one is made. Raises
    before any database work if a setting or an input is unusable."""
    run_variables = run_variables or {}
    use_project_environment()
    check_settings(run_variables)
    run_id = lifecycle.checked_run_id(run_variables.get('run_id'))
    settings = connection_settings(current_env())
    found = check_inputs()
    with db.transaction(settings) as conn:
        check_database_encoding(conn)
        check_reader_roles(conn, settings)
    block_outputs.claim(run_variables)
    mage_run = ({key: run_variables.get(key) for key in ('pipeline_run_id', 'pipeline_uuid', 'execution_partition')}
                if run_variables.get('pipeline_run_id') else None)
    if mage_run:
        mage_run['id'] = mage_run.pop('pipeline_run_id')
    return lifecycle.begin(run_id, dataset, settings, build_abandon_seconds(), mage_run), found


def backfill_window(run_variables: dict) -> tuple | None:
    """The interval of a run that a Mage backfill started (its pipeline run has a backfill): the
    days whose files it reloads. Scheduled and editor runs get an interval too, and ignore it."""
    run_id = run_variables.get('pipeline_run_id')
    if not run_id:
        return None
    try:
        from mage_ai.orchestration.db.models.schedules import PipelineRun

        run = PipelineRun.query.get(int(run_id))
    except Exception:  # noqa: BLE001 - no Mage database here: not a backfill
        return None
    if run is None or not run.backfill_id:
        return None
    return interval_window(run.variables or {})


def start_run(run_variables: dict | None = None) -> tuple[lifecycle.Build, Plan]:
    """Start a run of the Postgres pipeline: open_build, then decide what it does with each input
    file (manifest.plan_files: the full refresh, the window of days to reload) and record that in
    its build (plan.record_plan)."""
    run_variables = run_variables or {}
    folder = dataset_dir()
    build, (tables, inputs) = open_build(run_variables, str(folder),
                                         lambda: check_input_files(LocalFiles(), str(folder)))
    window = reload_window(run_variables) or backfill_window(run_variables)
    with db.transaction() as conn, conn.cursor() as cursor:
        plan = plan_files(cursor, inputs, full_refresh(run_variables), window, str(folder))
        record_plan(cursor, build.schema, plan, str(folder))
    return build, plan
