"""The manifest of loaded files, audit.file_loads, and what a run does with each input file.

Every file a run loads gets a row (a load) with its path relative to DATASET_DIR, size, modification
time, content hash (SHA-256), the run that loaded it, its line counts and a status:

    loaded       its rows are in store, not yet published (a run that did not publish, or has not yet)
    published    its rows are in the published raw tables
    retired      it was published, and a later load of its file (or a full refresh) replaced it
    discarded    loaded but never published: a later load of its file took its place
    refused      read, and refused (no loadable row, or too many rejected): its evidence is kept
    redelivery   not loaded: a byte-identical copy of another load (redelivery_of)

``plan`` decides, for each file a run finds (ingest.files), what the run does:

    unchanged    published with the same content: skipped (same path, size and modification time;
                 or the same hash, when only the time changed)
    new          never loaded: loaded
    changed      published with other content: loaded, and its earlier rows retired at the publish
    reload       a dated file inside the run's window (reload_from..reload_to, or a backfill's
                 interval): loaded again even where unchanged, to re-derive those days
    refresh      a full refresh: every file is loaded again and every earlier load retired
    adopt        loaded with the same content by an earlier run that did not publish (killed, say):
                 its load is published by this run, not read again
    redelivery   a byte-identical copy of a load that stays published, or of a file loaded earlier
                 in this run: not loaded twice, named

and which published files are missing (kept, with a warning; only a full refresh drops them).
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable, Optional

from psycopg2 import sql

from mage_project.catalog import AUDIT
from mage_project.ingest.dialect import DatasetError
from mage_project.ingest.files import EVENTS_TABLE, InputFile, Inputs

MANIFEST = 'file_loads'
LOADS_ACTIONS = ('new', 'changed', 'reload', 'refresh')  # the actions that read a file into store
PUBLISHES = LOADS_ACTIONS + ('adopt',)  # the actions whose load this run publishes

_MANIFEST_DDL = """
create table if not exists {audit}.file_loads (
    load_id bigserial primary key,
    source_file text not null,
    target_table text not null,
    file_date date,
    size bigint not null,
    mtime_ns bigint not null,
    sha256 text not null,
    run_id text not null,
    status text not null,
    redelivery_of bigint references {audit}.file_loads,
    dataset_dir text not null,
    store_table text,
    lines_read bigint,
    rows_loaded bigint,
    rows_rejected bigint,
    values_adjusted bigint,
    loaded_at timestamptz not null default now(),
    published_at timestamptz,
    retired_at timestamptz,
    note text
)
"""


def ensure_manifest(cursor) -> None:
    """audit.file_loads, once per database (the caller holds the setup lock)."""
    cursor.execute(sql.SQL(_MANIFEST_DDL).format(audit=sql.Identifier(AUDIT)))
    cursor.execute(sql.SQL('create index if not exists file_loads_source_file on {}.file_loads (source_file, status)')
                   .format(sql.Identifier(AUDIT)))


@dataclass(frozen=True)
class Load:
    """A row of audit.file_loads."""
    load_id: int
    source_file: str
    target_table: str
    size: int
    mtime_ns: int
    sha256: str
    status: str
    run_id: str
    redelivery_of: Optional[int] = None
    store_table: Optional[str] = None


LOAD_COLUMNS = tuple(Load.__dataclass_fields__)


def manifest_loads(cursor, statuses: Iterable[str] = ('loaded', 'published', 'redelivery')) -> list[Load]:
    cursor.execute(sql.SQL('select {} from {}.file_loads where status = any(%s) order by load_id').format(
        sql.SQL(', ').join(map(sql.Identifier, LOAD_COLUMNS)), sql.Identifier(AUDIT)), (list(statuses),))
    return [Load(*row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class FileState:
    """What changes when a file is written to or replaced."""
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, location: str) -> 'FileState':
        stat = os.stat(location)
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ino)


def sha256_of(location: str) -> tuple[str, FileState]:
    """The file's SHA-256 and its state, which must not change while it is read."""
    before = FileState.of(location)
    digest = hashlib.sha256()
    with open(location, 'rb') as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if FileState.of(location) != before:
        raise DatasetError(f'{location}: changed while it was read (size and modification time differ from when '
                           'the run began reading it); nothing of it is loaded: run again once it is complete')
    return digest.hexdigest(), before


@dataclass(frozen=True)
class Planned:
    """What a run does with one input file. ``load_id``: the load that holds (or will hold) its
    rows once published: the published one (unchanged), the earlier run's (adopt), the original's
    (redelivery); None for a file this run loads."""
    file: InputFile
    action: str
    state: FileState
    sha256: Optional[str] = None
    load_id: Optional[int] = None
    note: str = ''
    original: Optional[str] = None  # a re-delivery of a file this run loads: that file's path


@dataclass
class Plan:
    files: list[Planned]
    missing: list[Load] = field(default_factory=list)
    ignored: tuple[str, ...] = ()
    full_refresh: bool = False
    window: Optional[tuple[date, date]] = None
    high_water: int = 0  # the last load_id when the run planned: later loads of a file are another run's
    reason: str = ''  # why a full refresh that the run was not asked for

    def count(self, *actions: str) -> int:
        return sum(1 for planned in self.files if planned.action in actions)

    def summary(self) -> str:
        """One line: what the run loads, skips and finds missing."""
        events = [p for p in self.files if p.file.table == EVENTS_TABLE]
        parts = [f'{sum(1 for p in events if p.action == "new")} new files' if not self.full_refresh
                 else f'full refresh of {len(events)} files' + (f' ({self.reason})' if self.reason else '')]
        for action, label in (('changed', 'changed'), ('reload', 'reloaded in the window'), ('adopt', 'adopted'),
                              ('unchanged', 'unchanged'), ('redelivery', 're-delivered')):
            n = sum(1 for p in events if p.action == action)
            if n and not (self.full_refresh and action == 'refresh'):
                parts.append(f'{n} {label}')
        if self.missing:
            parts.append(f'{len(self.missing)} ' + ('dropped (no longer in the folder)' if self.full_refresh
                                                    else 'missing'))
        if self.ignored:
            parts.append(f'{len(self.ignored)} ignored')
        users = next(p for p in self.files if p.file.table == 'users')
        parts.append('users.csv ' + ('unchanged' if users.action == 'unchanged' else
                                     'adopted' if users.action == 'adopt' else 'loaded'))
        return ', '.join(parts)


def in_window(found: InputFile, window: Optional[tuple[date, date]]) -> bool:
    return window is not None and found.file_date is not None and window[0] <= found.file_date <= window[1]


def decide(inputs: Inputs, loads: list[Load], full_refresh: bool, window: Optional[tuple[date, date]],
           state_of: Callable[[str], FileState], digest: Callable[[str], tuple[str, FileState]],
           high_water: int = 0) -> Plan:
    """What the run does with each file of ``inputs``, given the manifest's ``loads`` (loaded,
    published and redelivery rows). ``state_of`` and ``digest`` read a file's state and hash (the
    hash only where the state does not settle it)."""
    published = {load.source_file: load for load in loads if load.status == 'published'}
    published_users = [load for load in loads if load.status == 'published' and load.target_table == 'raw.users']
    redelivered = {load.source_file: load for load in loads if load.status == 'redelivery'}
    unpublished = defaultdict(list)
    for load in loads:
        if load.status == 'loaded':
            unpublished[load.source_file].append(load)
    present = {found.relative for found in inputs.events}
    missing = [load for path, load in published.items()
               if load.target_table == f'raw.{EVENTS_TABLE}' and path not in present]
    decided: dict[str, Planned] = {}
    hashed: dict[str, tuple[str, FileState]] = {}

    def hash_of(found: InputFile) -> tuple[str, FileState]:
        if found.relative not in hashed:
            hashed[found.relative] = digest(found.location)
        return hashed[found.relative]

    # First the files whose published content stays: same state, or the same hash.
    candidates = [inputs.users, *inputs.events]
    for found in candidates:
        state = state_of(found.location)
        before = published_users[-1] if found.table == 'users' and published_users else published.get(found.relative)
        if full_refresh or in_window(found, window) or before is None or before.source_file != found.relative:
            continue
        if (state.size, state.mtime_ns) == (before.size, before.mtime_ns):
            decided[found.relative] = Planned(found, 'unchanged', state, before.sha256, before.load_id)
        elif state.size == before.size and hash_of(found)[0] == before.sha256:
            decided[found.relative] = Planned(found, 'unchanged', hash_of(found)[1], before.sha256, before.load_id,
                                              'touched: same content, new modification time')
    # The contents that stay published: redeliveries are copies of these, or of a file loaded now.
    staying = {p.sha256: p.load_id for p in decided.values() if p.file.table == EVENTS_TABLE}
    if not full_refresh:
        staying.update({load.sha256: load.load_id for load in missing})
    loaded_now: dict[str, str] = {}  # sha256 -> relative path of the file loaded by this run
    plan = []
    for found in candidates:
        if found.relative in decided:
            plan.append(decided[found.relative])
            continue
        earlier = redelivered.get(found.relative)
        state = state_of(found.location)
        if (earlier is not None and not full_refresh and (state.size, state.mtime_ns) == (earlier.size, earlier.mtime_ns)
                and staying.get(earlier.sha256) == earlier.redelivery_of):
            plan.append(Planned(found, 'redelivery', state, earlier.sha256, earlier.redelivery_of,
                                f're-delivery of load {earlier.redelivery_of}'))
            continue
        sha, state = hash_of(found)
        if found.table == EVENTS_TABLE and sha in staying:
            original = staying[sha]
            plan.append(Planned(found, 'redelivery', state, sha, original, f're-delivery of load {original}'))
            continue
        if found.table == EVENTS_TABLE and sha in loaded_now:
            plan.append(Planned(found, 'redelivery', state, sha, None, f're-delivery of {loaded_now[sha]}',
                                loaded_now[sha]))
            continue
        before = published_users[-1] if found.table == 'users' and published_users else published.get(found.relative)
        adoptable = [load for load in unpublished.get(found.relative, ()) if load.sha256 == sha]
        if adoptable and not full_refresh and not in_window(found, window):
            load = adoptable[-1]
            plan.append(Planned(found, 'adopt', state, sha, load.load_id,
                                f'loaded by run {load.run_id}, which did not publish it'))
        elif full_refresh:
            plan.append(Planned(found, 'refresh', state, sha))
        elif in_window(found, window):
            plan.append(Planned(found, 'reload', state, sha, None, 'in the window'))
        elif before is not None and (before.source_file == found.relative or found.table == 'users'):
            plan.append(Planned(found, 'changed', state, sha, None, f'replaces load {before.load_id}'))
        else:
            plan.append(Planned(found, 'new', state, sha))
        if found.table == EVENTS_TABLE:
            loaded_now[sha] = found.relative
    return Plan(plan, missing, inputs.ignored, full_refresh, window, high_water)


def plan_files(cursor, inputs: Inputs, full_refresh: bool, window: Optional[tuple[date, date]],
               folder: str) -> Plan:
    """decide() against this database's manifest, on local files. Files whose content is unchanged
    but whose modification time moved get it recorded, so later runs skip them without hashing.
    The published files came from another DATASET_DIR: a full refresh (paths relative to another
    folder are other files, and the previous folder's rows must not stay)."""
    loads = manifest_loads(cursor)
    cursor.execute(sql.SQL('select coalesce(max(load_id), 0) from {}.file_loads').format(sql.Identifier(AUDIT)))
    high_water = cursor.fetchone()[0]
    cursor.execute(sql.SQL("select distinct dataset_dir from {}.file_loads where status = 'published'").format(
        sql.Identifier(AUDIT)))
    elsewhere = sorted(row[0] for row in cursor.fetchall() if row[0] != folder)
    reason = ''
    if elsewhere and not full_refresh:
        full_refresh, reason = True, f'DATASET_DIR is {folder}, the published files came from {", ".join(elsewhere)}'
    plan = decide(inputs, loads, full_refresh, window, FileState.of, sha256_of, high_water)
    plan.reason = reason
    for planned in plan.files:
        if planned.note.startswith('touched'):
            cursor.execute(sql.SQL('update {}.file_loads set size = %s, mtime_ns = %s where load_id = %s').format(
                sql.Identifier(AUDIT)), (planned.state.size, planned.state.mtime_ns, planned.load_id))
    return plan

