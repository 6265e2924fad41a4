"""What a run does with each input file, against the manifest (manifest.decide), on made-up files:
the state (size, modification time) settles what it can, the hash the rest."""
from datetime import date

import pytest

from mage_project.ingest.files import InputFile, Inputs
from mage_project.ingest.manifest import FileState, Load, decide

USERS = InputFile('users', '/d/users.csv', 'users.csv')


def event(name: str, day: date | None = None) -> InputFile:
    return InputFile('user_interaction', f'/d/user_interaction/{name}', f'user_interaction/{name}', day)


def published(load_id: int, found: InputFile, sha: str, size: int = 10, mtime: int = 1, status: str = 'published',
              **more) -> Load:
    return Load(load_id, found.relative, f'raw.{found.table}', size, mtime, sha, status, 'r1', **more)


class Folder:
    """Files with a state and a content each; counts the hashes taken."""

    def __init__(self, files: dict[InputFile, tuple[int, int, str]]):
        self.files = {found.location: value for found, value in files.items()}
        self.hashed = []

    def state_of(self, location: str) -> FileState:
        size, mtime, _ = self.files[location]
        return FileState(size, mtime, 1)

    def digest(self, location: str):
        self.hashed.append(location)
        return self.files[location][2], self.state_of(location)


def plan(folder: Folder, loads, events, full_refresh=False, window=None):
    return decide(Inputs(USERS, tuple(events), ()), loads, full_refresh, window, folder.state_of, folder.digest)


def actions(result) -> dict[str, str]:
    return {p.file.relative: p.action for p in result.files}


A, B, C = event('a.csv', date(2019, 5, 5)), event('b.csv', date(2019, 5, 6)), event('c.csv')
LOADS = [published(1, USERS, 'u'), published(2, A, 'a'), published(3, B, 'b')]


def test_files_with_their_published_state_are_unchanged_without_hashing():
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 1, 'a'), B: (10, 1, 'b')})
    result = plan(folder, LOADS, [A, B])
    assert actions(result) == {'users.csv': 'unchanged', A.relative: 'unchanged', B.relative: 'unchanged'}
    assert folder.hashed == [] and result.missing == []


def test_a_touched_file_is_hashed_and_unchanged_a_changed_one_reloaded_a_new_one_loaded():
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 2, 'a'), B: (11, 2, 'b2'), C: (5, 1, 'c')})
    result = plan(folder, LOADS, [A, B, C])
    assert actions(result) == {'users.csv': 'unchanged', A.relative: 'unchanged', B.relative: 'changed',
                               C.relative: 'new'}
    assert result.files[1].note.startswith('touched')
    assert 'replaces load 3' in result.files[2].note


def test_a_missing_file_keeps_its_load_and_is_named():
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 1, 'a')})
    result = plan(folder, LOADS, [A])
    assert [load.source_file for load in result.missing] == [B.relative]


def test_a_copy_of_a_kept_or_a_new_file_is_a_redelivery_named_after_the_first():
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 1, 'a'), B: (10, 1, 'b'), C: (10, 1, 'a'),
                     event('d.csv'): (7, 1, 'd'), event('e.csv'): (7, 1, 'd')})
    result = plan(folder, LOADS, [A, B, C, event('d.csv'), event('e.csv')])
    assert actions(result)[C.relative] == 'redelivery' and result.files[3].load_id == 2
    assert actions(result)['user_interaction/e.csv'] == 'redelivery'
    assert result.files[5].original == 'user_interaction/d.csv'


def test_a_copy_of_a_file_that_changes_in_the_same_run_is_loaded():
    folder = Folder({USERS: (10, 1, 'u'), A: (11, 2, 'a2'), B: (10, 1, 'b'), C: (10, 1, 'a')})
    assert actions(plan(folder, LOADS, [A, B, C]))[C.relative] == 'new'


def test_a_load_that_a_killed_run_left_unpublished_is_adopted_not_read_again():
    loads = LOADS + [published(4, C, 'c', status='loaded')]
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 1, 'a'), B: (10, 1, 'b'), C: (10, 1, 'c')})
    result = plan(folder, loads, [A, B, C])
    assert actions(result)[C.relative] == 'adopt' and result.files[3].load_id == 4


def test_a_full_refresh_loads_every_file_and_retires_the_missing():
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 1, 'a')})
    result = plan(folder, LOADS, [A], full_refresh=True)
    assert set(actions(result).values()) == {'refresh'} and result.missing[0].source_file == B.relative


@pytest.mark.parametrize('window, reloaded', [
    ((date(2019, 5, 5), date(2019, 5, 5)), {A.relative}),
    ((date(2019, 5, 1), date(2019, 5, 31)), {A.relative, B.relative}),
    ((date(2019, 6, 1), date(2019, 6, 2)), set()),
])
def test_a_window_reloads_the_dated_files_inside_it_only(window, reloaded):
    folder = Folder({USERS: (10, 1, 'u'), A: (10, 1, 'a'), B: (10, 1, 'b'), C: (10, 1, 'c')})
    loads = LOADS + [published(4, C, 'c')]
    result = actions(plan(folder, loads, [A, B, C], window=window))
    assert {path for path, action in result.items() if action == 'reload'} == reloaded
    assert all(action == 'unchanged' for path, action in result.items() if path not in reloaded)
