"""The Postgres pipeline run in this process without Mage: its blocks' functions, in the order
Mage runs them (the report aside). For tests of the incremental state that need many runs."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from mage_project.answers.publishing import publish_run
from mage_project.answers.write import build_answers
from mage_project.builds import lifecycle
from mage_project.builds.plan import load_planned, select_changes, select_users
from mage_project.builds.start import start_run
from mage_project.catalog import numbers
from mage_project.core import db
from mage_project.models.sql import run_models


@contextmanager
def environment(env: dict[str, str]):
    """This process's environment replaced by ``env`` (a run sets variables of its own in it), and
    restored, with the run's owner connection closed."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        lifecycle._release_owner()
        os.environ.clear()
        os.environ.update(saved)


def run_in_process(database_env: dict[str, str], dataset: Path, work: Path, variables: dict | None = None,
                   before_publish: Callable[[lifecycle.Build], None] | None = None) -> str:
    """One run on ``dataset`` (Mage's data folder in ``work``); returns how it ended: 'published'
    or 'unchanged'. ``before_publish`` is called with the run's build once its models are built."""
    env = {'PATH': os.environ.get('PATH', ''), 'ENV': 'test', 'DATASET_DIR': str(dataset),
           'MAGE_DATA_DIR': str(work / 'mage_data'), 'REPORT_DIR': str(work / 'reports'), **database_env}
    variables = dict(variables or {})
    with environment(env):
        build, _ = start_run(variables)
        load_planned('users', variables)
        select_users(variables)
        load_planned('user_interaction', variables)
        select_changes(variables)
        with db.transaction() as conn:
            run_models(conn, build.schema, variables)
            build_answers(conn, build.schema, numbers(variables))
        if before_publish:
            before_publish(build)
        return publish_run(build, variables)
