"""Shared pieces of the reliability tests."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO

PUBLISHED = ('raw.users', 'raw.user_interaction', 'raw.rejected_rows', 'raw.load_audit',
             'staging.stg_users', 'staging.stg_user_interaction',
             'analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date',
             'analytics.visitors_by_country', 'analytics.valuable_users_by_age_group', 'analytics.answers')


def snapshot(database) -> dict[str, list]:
    """Every published table's rows (load_audit without its timestamp)."""
    tables = {}
    for name in PUBLISHED:
        query = ('select source_file, lines_read, rows_loaded, rows_rejected from raw.load_audit'
                 if name == 'raw.load_audit' else f'select * from {name}')
        tables[name] = sorted(database.rows(query), key=repr)
    return tables


def sample_copy(tmp_path: Path, name: str = 'data') -> Path:
    target = tmp_path / name
    shutil.copytree(REPO / 'dataset', target)
    return target


def output(process) -> str:
    return process.stdout + process.stderr
