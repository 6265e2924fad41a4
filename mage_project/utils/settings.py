"""Where the pipeline reads its settings: the environment switch, the dataset folder and the
database connection. Every block and script goes through this module, so each variable is read
in one place."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PROJECT_DIR.parent
IO_CONFIG_PATH = PROJECT_DIR / 'io_config.yaml'

ENVIRONMENTS = ('dev', 'test', 'prod')
DEFAULT_ENV = 'dev'
CONNECTION_VARIABLES = (
    'POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_DB', 'POSTGRES_USER', 'POSTGRES_PASSWORD',
)


class ConfigurationError(RuntimeError):
    """The environment is not set up for a run; raised before any database work."""


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
    from mage_ai.io.config import ConfigFileLoader, ConfigKey

    env = env or current_env()
    if env == 'prod':
        missing = [name for name in CONNECTION_VARIABLES if not os.getenv(name)]
        if missing:
            raise ConfigurationError(
                f"ENV=prod needs {', '.join(missing)}: prod has no defaults, set them in the "
                'environment or .env'
            )
    config = ConfigFileLoader(str(IO_CONFIG_PATH), env).config
    settings = ConnectionSettings(
        host=str(config[ConfigKey.POSTGRES_HOST]),
        port=int(config[ConfigKey.POSTGRES_PORT]),
        dbname=str(config[ConfigKey.POSTGRES_DBNAME]),
        user=str(config[ConfigKey.POSTGRES_USER]),
        password=str(config[ConfigKey.POSTGRES_PASSWORD] or ''),
    )
    return settings


def run_lock_wait_seconds() -> float:
    """How long a run waits for a concurrent run to finish before failing (RUN_LOCK_WAIT_SECONDS)."""
    return float(os.getenv('RUN_LOCK_WAIT_SECONDS') or 300)


def report_path() -> Path:
    """Where export_answers_report writes the HTML report: REPORT_DIR (default reports/)/answers.html."""
    folder = Path(os.getenv('REPORT_DIR') or 'reports')
    return (folder if folder.is_absolute() else REPO_DIR / folder) / 'answers.html'


def mage_data_dir() -> Path:
    """Mage's own state (MAGE_DATA_DIR, default .mage_data in the repository, as metadata.yaml says)."""
    return Path(os.getenv('MAGE_DATA_DIR') or REPO_DIR / '.mage_data')


def analytics_reader_roles() -> list[str]:
    """Roles that get read access to the analytics schema after each publish
    (ANALYTICS_READER_ROLES, comma-separated; none by default)."""
    return [role.strip() for role in (os.getenv('ANALYTICS_READER_ROLES') or '').split(',') if role.strip()]
