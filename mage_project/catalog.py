"""The catalog: the facts about the pipeline's tables and questions, each written once.

Which tables each layer holds and their keys, what each pipeline publishes, the four questions
(their ids, tables and charts), and the question's numbers: the 5 VIEWs and 10 CLICKs of a valuable
user and the age groups. The numbers are the pipeline's variables (``variables:`` in
pipelines/event_analytics/metadata.yaml), because the SQL blocks read them there through Mage's
``variables()``; this module reads the same file, so Python and SQL never disagree. A run may set
other values (`mage run --runtime-vars`, a trigger's variables): ``run_variables`` checks them.

Layering: this module imports nothing of the project (and only yaml besides the standard library).
"""
from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent
PIPELINE = 'event_analytics'
SPARK_PIPELINE = 'event_analytics_spark'

# The contract with tables.sql: the raw tables and their columns, in file order. Identifiers come
# from here, never from the file; the file only contributes the column types.
RAW_TABLES: dict[str, tuple[str, ...]] = {
    'users': ('user_id', 'age', 'country'),
    'user_interaction': ('event_id', 'user_id', 'event_type', 'event_time'),
}
DDL_FILE = 'tables.sql'

LAYERS = ('raw', 'staging', 'intermediate', 'analytics')
AUDIT = 'audit'  # the registry of runs (pipeline_runs), the manifest of loads (file_loads), the state
STORE = 'store'  # what runs keep between them: the loaded files' rows and the incremental state


@dataclass(frozen=True)
class Model:
    """A table or view of the pipeline. ``layer`` is the schema that publishes it as a view (None:
    a table of a run's build that other models read, not published). ``source`` says what the
    published view shows: 'build', a table of the run's build (the question tables); 'store', the
    state that runs keep and update in place (the loaded rows, int_event_copies, ...); 'view', a
    query over the published layer below it, run when read (staging, int_user_activity).
    ``key``: its primary key, checked before the publish where a build has the table (None: no
    key); ``ranked``: it has a position column running 1..n; ``scales_with_events``: its size
    grows with the event log (the run's summary does not count it)."""
    name: str
    layer: str | None
    key: tuple[str, ...] | None = None
    ranked: bool = False
    scales_with_events: bool = False
    source: str = 'build'


MODELS = (
    Model('users', 'raw', scales_with_events=True, source='store'),
    Model('user_interaction', 'raw', scales_with_events=True, source='store'),
    Model('rejected_rows', 'raw', ('source_file', 'line_number'), scales_with_events=True, source='store'),
    Model('adjusted_values', 'raw', ('source_file', 'line_number', 'column_name'), scales_with_events=True,
          source='store'),
    Model('load_audit', 'raw', ('source_file',), source='store'),
    Model('stg_users', 'staging', scales_with_events=True, source='view'),
    Model('stg_user_interaction', 'staging', scales_with_events=True, source='view'),
    Model('int_users', 'intermediate', ('user_id',), source='store'),
    Model('int_event_copies', 'intermediate', scales_with_events=True, source='store'),
    Model('int_user_events', 'intermediate', ('user_id', 'event_type'), source='store'),
    Model('int_user_activity', 'intermediate', source='view'),
    Model('orphan_events_by_type', 'analytics', ('event_type',), ranked=True),
    Model('duplicate_events_by_date', 'analytics', ('event_date',), ranked=True),
    Model('visitors_by_country', 'analytics', ('country',), ranked=True),
    Model('valuable_users_by_age_group', 'analytics', ('age_group',), ranked=True),
    Model('answers', 'analytics', ('question_id',)),
    Model('conflicting_users', None),
    # What a run changes, in its build: the incremental models (transformers/int_*_changes.sql, ...).
    Model('int_event_copy_changes', None, scales_with_events=True),
    Model('int_user_event_changes', None, ('user_id', 'event_type')),
    Model('int_touched_users', None, ('user_id',)),
    Model('int_user_event_sides', None, ('user_id', 'event_type', 'sign')),
    Model('int_user_activity_changes', None, ('user_id', 'sign')),
)
MODELS_BY_NAME = {model.name: model for model in MODELS}
EVIDENCE_TABLES = ('rejected_rows', 'adjusted_values', 'load_audit')
# What the build's SQL models read besides each other (builds.state makes them): the rows of the
# loads the run adds or retires and their signs, the users when they change, the run's mode, and
# the published state, each base_<model> (empty when the run starts from nothing).
INPUTS = ('users', 'user_interaction', 'load_changes', 'run_inputs')
STATE_MODELS = ('int_users', 'int_event_copies', 'int_user_events', 'orphan_events_by_type',
                'duplicate_events_by_date', 'visitors_by_country', 'valuable_users_by_age_group',
                'conflicting_users')
BASE_INPUTS = tuple(f'base_{name}' for name in STATE_MODELS)


@dataclass(frozen=True)
class Question:
    """A business question: its id, words, the analytics table that answers it, and the chart
    drawn from that table (bar labels, bar values; ``only_positive``: rows with 0 are not drawn)."""
    id: str
    text: str
    table: str
    label: str
    value: str
    chart_title: str
    only_positive: bool = False


QUESTIONS = (
    Question('q1', 'Which event types most often log a user_id that does not exist in users?',
             'orphan_events_by_type', 'event_type', 'orphan_events', 'Orphan events per event type'),
    Question('q2', 'On which date were many events duplicated?',
             'duplicate_events_by_date', 'event_date', 'surplus_copies',
             'Surplus copies of exact duplicates per date', only_positive=True),
    Question('q3', 'Which country do most of our website visitors come from?',
             'visitors_by_country', 'country', 'visitors', 'Visitors per country'),
    Question('q4', 'What age group do the most valuable users fall in: {groups}?',
             'valuable_users_by_age_group', 'age_group', 'valuable_users', 'Valuable users per stored age label'),
)
QUESTION_IDS = tuple(question.id for question in QUESTIONS)
QUESTION_TABLES = tuple(question.table for question in QUESTIONS)
QUESTIONS_BY_ID = {question.id: question for question in QUESTIONS}


def published_by(pipeline: str | None) -> dict[str, tuple[str, ...]]:
    """What a run of ``pipeline`` publishes, layer by layer (the Postgres pipeline's set when it is not
    named). The Spark pipeline keeps raw events and the staging and intermediate models in Spark: its
    build in Postgres holds the load's evidence and the analytics tables."""
    if pipeline == SPARK_PIPELINE:
        return {'raw': EVIDENCE_TABLES,
                'analytics': tuple(m.name for m in MODELS if m.layer == 'analytics')}
    return {layer: tuple(m.name for m in MODELS if m.layer == layer) for layer in LAYERS}


PIPELINES = (PIPELINE, SPARK_PIPELINE)
# What the Spark pipeline computes and writes to Postgres for the shared answers block.
SPARK_TO_POSTGRES = QUESTION_TABLES + ('conflicting_users',)


# ---------------------------------------------------------------------------------------------
# The question's numbers: pipeline variables
# ---------------------------------------------------------------------------------------------

class VariableError(ValueError):
    """A pipeline variable of a run has a value the questions cannot use."""


@dataclass(frozen=True)
class Numbers:
    """A valuable user has at least ``min_views`` VIEW and ``min_clicks`` CLICK events; q4 compares
    the age groups ``age_groups`` (two inclusive ranges of years, the younger first)."""
    min_views: int
    min_clicks: int
    age_groups: tuple[tuple[int, int], tuple[int, int]]

    @property
    def group_labels(self) -> tuple[str, str]:
        return tuple(f'{low}-{high}' for low, high in self.age_groups)


METADATA_READ_SECONDS = 5.0


def pipeline_metadata(pipeline: str = PIPELINE, seconds: float = METADATA_READ_SECONDS) -> dict:
    """A pipeline's metadata.yaml. Read with libyaml's safe loader (in PyYAML's wheels): the
    pure-Python one takes about 50 ms over this file.

    Mage's editor saves this file in place each time it runs a block (it records the block's status:
    mage_ai.shared.io.safe_write truncates the file, then writes it), so a read in between, a few
    milliseconds on a loaded machine, finds it empty: it is read again for up to ``seconds``."""
    path = PROJECT_DIR / 'pipelines' / pipeline / 'metadata.yaml'
    deadline = time.monotonic() + seconds
    while True:
        config = yaml.load(path.read_text(), Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))
        if config or time.monotonic() > deadline:
            return config
        time.sleep(0.05)


@functools.lru_cache(maxsize=1)
def default_variables() -> dict:
    """The event_analytics pipeline's variables as metadata.yaml sets them (both pipelines' defaults)."""
    return dict(pipeline_metadata(PIPELINE).get('variables') or {})


_WHOLE = re.compile(r'\s*\d{1,9}\s*')
_GROUP = re.compile(r'\s*(\d{1,3})\s*-\s*(\d{1,3})\s*')
GROUP_VARIABLES = ('younger_age_group', 'older_age_group')


def _whole(name: str, value) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or _WHOLE.fullmatch(str(value))):
        raise VariableError(f'{name}={value!r} (pipeline variable) is not allowed; allowed: a whole number of at least 0')
    return int(value)


def numbers(run_variables: dict | None = None) -> Numbers:
    """The question's numbers for a run: its variables (from `mage run --runtime-vars`, a trigger or
    the editor; values may arrive as strings) over the pipeline's, each checked."""
    variables = {**default_variables(), **{k: v for k, v in (run_variables or {}).items() if v is not None}}
    groups = []
    for name in GROUP_VARIABLES:
        match = _GROUP.fullmatch(str(variables.get(name)))
        if not match or int(match[1]) > int(match[2]):
            raise VariableError(f'{name}={variables.get(name)!r} (pipeline variable) is not allowed; allowed: a range '
                                'of years, low-high, as 18-49')
        groups.append((int(match[1]), int(match[2])))
    if not groups[0][1] < groups[1][0]:
        raise VariableError(f'younger_age_group={variables.get("younger_age_group")!r} and older_age_group='
                            f'{variables.get("older_age_group")!r} (pipeline variables) overlap or are out of order; '
                            'allowed: the younger group ending below the older one')
    return Numbers(_whole('min_views', variables.get('min_views')), _whole('min_clicks', variables.get('min_clicks')),
                   tuple(groups))


def question_text(question: Question, numbers_: Numbers) -> str:
    return question.text.format(groups=' or '.join(numbers_.group_labels))


# ---------------------------------------------------------------------------------------------
# Where a stored age label falls against the question's two groups
# ---------------------------------------------------------------------------------------------

def age_places(numbers_: Numbers) -> dict[str, tuple[str, frozenset[str]]]:
    """valuable_users_by_age_group.question_age_group -> how the answer describes the label, and
    which of the two groups the label's users may be in. The SQL model writes these labels from the
    same variables (tests/transformers checks that it writes no other)."""
    young, old = numbers_.group_labels
    return {
        young: (f'within {young}', frozenset({young})),
        old: (f'within {old}', frozenset({old})),
        'both': (f'straddles {young} and {old}', frozenset({young, old})),
        f'{young} or neither': (f'partly {young}, partly outside both groups', frozenset({young})),
        f'{old} or neither': (f'partly {old}, partly outside both groups', frozenset({old})),
        'both or neither': (f'spans {young}, {old} and ages outside both', frozenset({young, old})),
        'neither': ('outside both groups', frozenset()),
        'unreadable': ('cannot be read as an age range', frozenset()),
    }
