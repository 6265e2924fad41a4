"""builds: a run's life in Postgres.

- start: the checks before any work, then the run's build schema (build_<run id>)
- lifecycle: the build's registry in audit.pipeline_runs, its owner connection, how runs end, cleanup
- contracts: what must hold before a build is published
- publish: repointing the published views at a build in one short transaction
- block_outputs: where Mage keeps each run's block outputs
"""
