"""Where the pipeline reads its settings: the environment switch, the dataset folder and the
database connection. Every block and script goes through this module, so each variable is read
in one place; check_settings reads them all, and the run's pipeline variables, at a run's start."""
from __future__ import annotations

import functools
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from mage_project.catalog import PROJECT_DIR, VariableError, numbers

REPO_DIR = PROJECT_DIR.parent
IO_CONFIG_PATH = PROJECT_DIR / 'io_config.yaml'

ENVIRONMENTS = ('dev', 'test', 'prod')
DEFAULT_ENV = 'dev'
CONNECTION_VARIABLES = (
    'POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_DB', 'POSTGRES_USER', 'POSTGRES_PASSWORD',
)


class ConfigurationError(RuntimeError):
    """The environment is not set up for a run; raised before any database work."""


# libpq's own variables that would pick another server, port, database, user, password, service or
# session settings than POSTGRES_* (and, for the embedded server, another port or data folder). The
# project's processes remove them from their environment (use_project_environment), so only
# POSTGRES_* decides where the pipeline, the embedded server, the editor and the tests connect.
# Transport security (PGSSLMODE, PGSSLROOTCERT, PGGSSENCMODE, ...) is left as the user set it.
LIBPQ_VARIABLES = (
    'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGPASSFILE', 'PGSERVICE',
    'PGSERVICEFILE', 'PGSYSCONFDIR', 'PGOPTIONS', 'PGAPPNAME', 'PGTARGETSESSIONATTRS', 'PGLOADBALANCEHOSTS',
    'PGCONNECT_TIMEOUT', 'PGCLIENTENCODING', 'PGDATESTYLE', 'PGTZ', 'PGGEQO', 'PGDATA', 'PGCTLTIMEOUT',
)
# What the project's processes set instead: no password file (POSTGRES_PASSWORD is the password),
# and the pipeline's own session settings (session_options) for every connection, Mage's included.
PROJECT_LIBPQ = {'PGPASSFILE': '/nonexistent/.pgpass'}  # a missing file is skipped without a word


def use_project_environment(environ=None) -> dict[str, str]:
    """Make this process's libpq connections follow POSTGRES_* only: remove libpq's own variables
    (LIBPQ_VARIABLES) and set the project's (PGPASSFILE, and PGOPTIONS with session_options()).
    Returns the variables removed that the user had set. Called at the start of every program of
    the project and of every run (start_run), before any connection; calling it again changes
    nothing."""
    environ = os.environ if environ is None else environ
    try:
        options = session_options(environ)
    except ConfigurationError:  # a bad PIPELINE_STATEMENT_TIMEOUT: check_settings stops the run, naming it
        options = session_options({})
    ours = dict(PROJECT_LIBPQ, PGOPTIONS=options)
    removed = {name: environ[name] for name in LIBPQ_VARIABLES if name in environ and environ[name] != ours.get(name)}
    for name in LIBPQ_VARIABLES:
        environ.pop(name, None)
    environ.update(ours)
    return removed


def statement_timeout_seconds(environ=None) -> float:
    """The pipeline's own limit on one SQL statement (PIPELINE_STATEMENT_TIMEOUT, seconds; 0 or
    unset: none). It replaces any statement_timeout of the role, the database or the server."""
    return _number('PIPELINE_STATEMENT_TIMEOUT', 0, 0, None, environ)


# The settings the pipeline sets for its own sessions, whatever the role, the database or the server
# say: the statement timeout above; no lock or idle-in-transaction timeout (the publish sets its own
# lock_timeout per try, and the owner connection its idle_session_timeout); read-write sessions; a
# search path of its own; ISO dates in UTC. In a run, the search path is the run's build schema
# alone, before pg_catalog (lifecycle.begin): the SQL blocks name the run's tables by their bare
# names, and a name the build lacks is an error rather than a table of the same name in public.
# The Python code qualifies every name.
def session_settings(environ=None, build_schema: str | None = None) -> dict[str, str]:
    return {
        'statement_timeout': f'{round(statement_timeout_seconds(environ) * 1000)}ms',
        'lock_timeout': '0',
        'idle_in_transaction_session_timeout': '0',
        'default_transaction_read_only': 'off',
        'search_path': f'{build_schema},pg_catalog' if build_schema else 'pg_catalog,public',
        'DateStyle': 'ISO,MDY',
        'TimeZone': 'UTC',
    }


def session_options(environ=None, build_schema: str | None = None) -> str:
    """session_settings as libpq's options (PGOPTIONS): -c name=value ..."""
    return ' '.join(f'-c {name}={value}' for name, value in session_settings(environ, build_schema).items())


def current_env() -> str:
    """The environment picked by Mage's own ENV variable: dev (default), test or prod."""
    env = os.getenv('ENV') or DEFAULT_ENV
    if env not in ENVIRONMENTS:
        raise ConfigurationError(f"ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def dataset_dir() -> Path:
    """The input folder (tables.sql, users.csv, user_interaction.csv); DATASET_DIR, relative
    paths taken from the repository root, defaults to the project's own sample in dataset/."""
    raw = os.getenv('DATASET_DIR') or 'dataset'
    path = Path(raw)
    return path if path.is_absolute() else (REPO_DIR / path).resolve()


def dataset_location() -> str:
    """DATASET_DIR for the Spark pipeline: a URI Spark reads (s3a://, gs://, hdfs://, file://)
    as given, or a local folder as dataset_dir() resolves it."""
    raw = os.getenv('DATASET_DIR') or 'dataset'
    return raw.rstrip('/') if '://' in raw else str(dataset_dir())


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str

    def describe(self) -> str:
        """host:port/db as user, for error messages; never the password."""
        return f'{self.host}:{self.port}/{self.dbname} as {self.user}'


def connection_settings(env: str | None = None) -> ConnectionSettings:
    """The Postgres connection of the io_config.yaml profile for ``env``.

    The profile is the single source of truth for both Python and SQL blocks. In prod every
    variable must be set explicitly; a missing one stops the run here, before any database work.
    """
    env = env or current_env()
    if env == 'prod':
        missing = [name for name in CONNECTION_VARIABLES if not os.getenv(name)]
        if missing:
            raise ConfigurationError(
                f"ENV=prod needs {', '.join(missing)}: prod has no defaults, set them in the "
                'environment or .env'
            )
    text = IO_CONFIG_PATH.read_text()
    if 'mage_secret_var' in text:  # a secret lives in Mage's database, not in the key below
        return _profile.__wrapped__(env, text, ())
    return _profile(env, text, tuple(sorted(os.environ.items())))


@functools.lru_cache(maxsize=8)
def _profile(env: str, text: str, environ: tuple) -> ConnectionSettings:
    """The rendered profile, once per (environment, io_config.yaml text, process environment):
    Mage renders the file with Jinja and parses it as YAML, some 30 ms, and a run connects
    about twenty times. Any change of the file or of a variable renders it again."""
    from mage_ai.io.config import ConfigFileLoader, ConfigKey

    config = ConfigFileLoader(str(IO_CONFIG_PATH), env).config
    return ConnectionSettings(
        host=str(config[ConfigKey.POSTGRES_HOST]),
        port=int(config[ConfigKey.POSTGRES_PORT]),
        dbname=str(config[ConfigKey.POSTGRES_DBNAME]),
        user=str(config[ConfigKey.POSTGRES_USER]),
        password=str(config[ConfigKey.POSTGRES_PASSWORD] or ''),
    )


def _number(name: str, default: float, low: float, high: float | None = None, environ=None) -> float:
    """A number from the environment variable ``name`` within [low, high], or ConfigurationError
    naming the variable, the value and what is allowed."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == '':
        return default
    allowed = f'a number from {low:g} to {high:g}' if high is not None else f'a number of at least {low:g}'
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f'{name}={raw!r} is not a number; allowed: {allowed}') from None
    if not (low <= value and (high is None or value <= high)):
        raise ConfigurationError(f'{name}={raw!r} is out of range; allowed: {allowed}')
    return value


def publish_wait_seconds() -> float:
    """How long publishing may retry while readers or another publish hold the published views
    (PUBLISH_WAIT_SECONDS, default 60), before the run fails naming the blockers."""
    return _number('PUBLISH_WAIT_SECONDS', 60, 0, 3600)


def build_abandon_seconds() -> float:
    """How long a build may go without a heartbeat and without its owner's connection before
    another run's cleanup drops it as abandoned (BUILD_ABANDON_SECONDS, default 6 hours)."""
    return _number('BUILD_ABANDON_SECONDS', 6 * 3600, 60)


DEFAULT_MAX_REJECTED_SHARE = 0.10


def max_rejected_share(override=None) -> float:
    """The largest share of a file's lines that may be rejected before the run refuses to publish:
    the pipeline variable ``max_rejected_share`` of this run if given, else MAX_REJECTED_SHARE,
    else 0.10."""
    if override is not None and str(override).strip() != '':
        try:
            value = float(override)
        except (TypeError, ValueError):
            value = -1.0
        if not 0 <= value <= 1:
            raise ConfigurationError(f'max_rejected_share={override!r} (pipeline variable) is not allowed; '
                                     'allowed: a number from 0 to 1')
        return value
    return _number('MAX_REJECTED_SHARE', DEFAULT_MAX_REJECTED_SHARE, 0, 1)


_TRUE, _FALSE = ('1', 'true', 'yes', 'on'), ('0', 'false', 'no', 'off', '')


def keep_failed_builds() -> bool:
    """Whether the build of every run that ended without publishing is kept for inspection
    (KEEP_FAILED_BUILDS=1). By default an interrupted or cancelled run's build is dropped at once,
    a failed or abandoned one's BUILD_ABANDON_SECONDS after its end."""
    raw = (os.getenv('KEEP_FAILED_BUILDS') or '').strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigurationError(f'KEEP_FAILED_BUILDS={os.getenv("KEEP_FAILED_BUILDS")!r} is not allowed; '
                                 'allowed: 1 or 0 (true/false, yes/no)')
    return raw in _TRUE


def report_path() -> Path:
    """Where export_answers_report writes the HTML report: REPORT_DIR (default reports/)/answers.html."""
    folder = Path(os.getenv('REPORT_DIR') or 'reports')
    return (folder if folder.is_absolute() else REPO_DIR / folder) / 'answers.html'


def check_report_dir() -> None:
    """REPORT_DIR can take the report: the folder exists or can be made, and a file can be written
    in it. Checked at the start of a run, so a read-only or missing folder stops it before any work
    rather than after the publish."""
    folder = report_path().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix='.answers-', suffix='.check'):
            pass
    except OSError as error:
        raise ConfigurationError(f'REPORT_DIR={os.getenv("REPORT_DIR") or "reports"!r}: the report cannot be written '
                                 f'in {folder} ({error.strerror or error}); allowed: a folder this process can write') \
            from None


DOTENV_PATH = REPO_DIR / '.env'


def check_line_endings(environ=None, dotenv: Path = DOTENV_PATH) -> None:
    """A .env saved with Windows line endings gives every variable a trailing carriage return (the
    shell keeps it): name the file and line, and any variable whose value ends with one."""
    environ = os.environ if environ is None else environ
    problems = []
    try:
        lines = dotenv.read_bytes().split(b'\n')
    except OSError:
        lines = []
    crlf = [number for number, line in enumerate(lines, 1) if line.endswith(b'\r')]
    if crlf:
        problems.append(f'{dotenv} has Windows line endings (CRLF) on line {crlf[0]}'
                        + (f' and {len(crlf) - 1} more' if len(crlf) > 1 else '')
                        + ": convert it to Unix line endings (sed -i 's/\\r$//' .env)")
    carried = sorted(name for name, value in environ.items()
                     if value.endswith('\r') and name.startswith(PROJECT_VARIABLE_PREFIXES))
    if carried:
        problems.append(f'{", ".join(carried)} {"ends" if len(carried) == 1 else "end"} with a carriage return '
                        '(a file with CRLF line endings?)')
    if problems:
        raise ConfigurationError('; '.join(problems))


PROJECT_VARIABLE_PREFIXES = ('POSTGRES_', 'MAGE_', 'ENV', 'DATASET_DIR', 'REPORT_DIR', 'ANALYTICS_', 'PUBLISH_',
                             'BUILD_', 'MAX_REJECTED', 'PIPELINE_', 'KEEP_', 'SPARK_')


def mage_data_dir() -> Path:
    """Mage's own state (MAGE_DATA_DIR, default .mage_data in the repository, as metadata.yaml says)."""
    return Path(os.getenv('MAGE_DATA_DIR') or REPO_DIR / '.mage_data')


_ROLE = re.compile(r'[A-Za-z_][A-Za-z0-9_$]*')


def analytics_reader_roles() -> list[str]:
    """Roles that get read access to the analytics schema after each publish
    (ANALYTICS_READER_ROLES, comma-separated; none by default)."""
    roles = [role.strip() for role in (os.getenv('ANALYTICS_READER_ROLES') or '').split(',') if role.strip()]
    bad = [role for role in roles if not _ROLE.fullmatch(role)]
    if bad:
        raise ConfigurationError(f'ANALYTICS_READER_ROLES={os.getenv("ANALYTICS_READER_ROLES")!r} names '
                                 f'{", ".join(map(repr, bad))}; allowed: role names (letters, digits, _ and $, '
                                 'not starting with a digit), separated by commas')
    return roles


def _port() -> None:
    raw = os.getenv('POSTGRES_PORT')
    if raw and not (raw.strip().isdigit() and 1 <= int(raw) <= 65535):
        raise ConfigurationError(f'POSTGRES_PORT={raw!r} is not a port; allowed: a whole number from 1 to 65535')


def full_refresh(run_variables: dict | None = None) -> bool:
    """The pipeline variable ``full_refresh``: rebuild from every file, as dbt's --full-refresh does
    (`make run FULL_REFRESH=1`, `--runtime-vars '{"full_refresh": true}'`, a trigger's variables)."""
    value = (run_variables or {}).get('full_refresh')
    raw = str(value).strip().lower() if value is not None else ''
    if raw not in _TRUE + _FALSE + ('none',):
        raise ConfigurationError(f'full_refresh={value!r} (pipeline variable) is not allowed; allowed: true or false')
    return raw in _TRUE


def _day(name: str, value) -> date | None:
    if value is None or str(value).strip() in ('', 'None'):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value).strip().replace('Z', '+00:00')).date()
    except ValueError:
        raise ConfigurationError(f'{name}={value!r} (pipeline variable) is not allowed; allowed: a date, '
                                 'YYYY-MM-DD') from None


def reload_window(run_variables: dict | None = None) -> tuple[date, date] | None:
    """The days whose dated event files the run loads again even where unchanged: the pipeline
    variables ``reload_from`` and ``reload_to`` (`make run FROM=... TO=...`; one of them alone is one
    day), both inclusive. None: no window."""
    variables = run_variables or {}
    start, end = _day('reload_from', variables.get('reload_from')), _day('reload_to', variables.get('reload_to'))
    if start is None and end is None:
        return None
    start, end = start or end, end or start
    if end < start:
        raise ConfigurationError(f'reload_from={start} is after reload_to={end}; allowed: reload_from on or '
                                 'before reload_to')
    return start, end


def interval_window(run_variables: dict | None = None) -> tuple[date, date] | None:
    """The days of a Mage backfill run's interval: from interval_start_datetime to the day before
    interval_end_datetime (the interval is half-open; without an end, the start's day)."""
    variables = run_variables or {}
    start = _day('interval_start_datetime', variables.get('interval_start_datetime'))
    if start is None:
        return None
    raw_end = variables.get('interval_end_datetime')
    end_day = _day('interval_end_datetime', raw_end)
    if end_day is None:
        return start, start
    end_moment = raw_end if isinstance(raw_end, datetime) else datetime.fromisoformat(
        str(raw_end).strip().replace('Z', '+00:00'))
    last = (end_moment - timedelta(microseconds=1)).date()
    return start, max(start, last)


def check_settings(run_variables: dict | None = None) -> None:
    """Read every setting of a run once, at its start, so a bad value stops the run before any
    work with one message naming each variable, its value and what is allowed."""
    problems = []
    checks = (check_line_endings, current_env, publish_wait_seconds, build_abandon_seconds, analytics_reader_roles,
              _port, statement_timeout_seconds, keep_failed_builds, check_report_dir,
              lambda: max_rejected_share((run_variables or {}).get('max_rejected_share')),
              lambda: numbers(run_variables), lambda: full_refresh(run_variables),
              lambda: reload_window(run_variables))
    for check in checks:
        try:
            check()
        except (ConfigurationError, VariableError) as error:
            problems.append(str(error))
    if problems:
        raise ConfigurationError('; '.join(problems))
