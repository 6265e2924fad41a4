"""The pipeline's SQL blocks outside Mage: their order, tables and queries rendered for one build
schema, as Mage renders them (env_var() reads the process's build schema). Used by the SQL unit
tests and the benchmark floor."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml

from mage_project.utils.builds import BUILD_SCHEMA_VARIABLE
from mage_project.utils.settings import PROJECT_DIR

PIPELINE = 'event_analytics'


@dataclass(frozen=True)
class SqlBlock:
    uuid: str
    table: str
    upstream: tuple[str, ...]
    path: Path

    def render(self, schema: str) -> str:
        """The block's query, reading and writing the build schema ``schema``."""
        def env_var(name: str, default: str | None = None) -> str | None:
            if name != BUILD_SCHEMA_VARIABLE:
                raise KeyError(f'{self.path.name} reads {name}; only {BUILD_SCHEMA_VARIABLE} is rendered here')
            return schema

        template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(self.path.read_text())
        return template.render(env_var=env_var)


METADATA_READ_SECONDS = 5.0


def pipeline_blocks(pipeline: str = PIPELINE, seconds: float = METADATA_READ_SECONDS) -> list[dict]:
    """The blocks of a pipeline's metadata.yaml, in pipeline order. Read with libyaml's safe loader
    (in PyYAML's wheels): the pure-Python one takes about 50 ms over this file, at the end of each
    `make run`.

    Mage's editor saves this file in place each time it runs a block (it records the block's status:
    mage_ai.shared.io.safe_write truncates the file, then writes it), so a read in between, a few
    milliseconds on a loaded machine, finds it empty: it is read again for up to ``seconds``."""
    path = PROJECT_DIR / 'pipelines' / pipeline / 'metadata.yaml'
    deadline = time.monotonic() + seconds
    while True:
        config = yaml.load(path.read_text(), Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))
        if config or time.monotonic() > deadline:
            return config['blocks']
        time.sleep(0.05)


def block_uuids(pipeline: str = PIPELINE) -> list[str]:
    return [block['uuid'] for block in pipeline_blocks(pipeline)]


def sql_blocks(pipeline: str = PIPELINE) -> list[SqlBlock]:
    """Every SQL block of the pipeline, in pipeline order."""
    return [SqlBlock(b['uuid'], b['configuration']['data_provider_table'], tuple(b['upstream_blocks']),
                     PROJECT_DIR / 'transformers' / f'{b["uuid"]}.sql')
            for b in pipeline_blocks(pipeline) if b['language'] == 'sql']


def build_statements(schema: str, pipeline: str = PIPELINE) -> list[tuple[SqlBlock, str]]:
    """(block, query) for every SQL block, rendered for ``schema``, in order."""
    return [(block, block.render(schema)) for block in sql_blocks(pipeline)]
