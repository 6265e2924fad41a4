"""The publish of a run, as its publish_analytics block does it: the data contracts, then
builds.publish, which for the Postgres pipeline applies the run's changes to the state first (and
runs the build's models and answers again if the state changed meanwhile: ``rebuild``)."""
from __future__ import annotations

from mage_project.answers.write import build_answers
from mage_project.builds.contracts import failed_contracts
from mage_project.builds.lifecycle import Build
from mage_project.builds.publish import ContractsFailed, Incremental, publish
from mage_project.catalog import PIPELINE, numbers, published_by
from mage_project.core import db
from mage_project.core.settings import analytics_reader_roles, dataset_dir, publish_wait_seconds
from mage_project.ingest.files import LocalFiles, read_ddl
from mage_project.models.sql import run_models


def publish_run(build: Build, run_variables: dict, pipeline: str | None = None) -> str:
    """Publish ``build``; returns 'published', or 'unchanged' when it had nothing new."""
    published = published_by(pipeline)
    if pipeline not in (None, PIPELINE):
        with db.transaction() as conn:
            failures = failed_contracts(conn, build.schema, published)
        if failures:
            raise ContractsFailed('not published, the previous tables stay: ' + '; '.join(failures))
        return publish(build, analytics_reader_roles(), publish_wait_seconds(), published=published)
    numbers_ = numbers(run_variables)

    def rebuild(conn) -> None:
        run_models(conn, build.schema, run_variables)
        build_answers(conn, build.schema, numbers_)

    incremental = Incremental(numbers_, run_variables, read_ddl(LocalFiles(), str(dataset_dir())), rebuild,
                              lambda conn: failed_contracts(conn, build.schema, published))
    return publish(build, analytics_reader_roles(), publish_wait_seconds(), published=published,
                   incremental=incremental)
