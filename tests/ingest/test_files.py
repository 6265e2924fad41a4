"""The input files, checked before any database work: missing, empty and ambiguous files are named;
the events' folder: what it loads, in which order, what it ignores, and the dates of the files."""
import gzip
from datetime import date

import pytest

from mage_project.ingest.dialect import DatasetError
from mage_project.ingest.files import LocalFiles, check_input_files, file_date, find_inputs, input_file
from tests.support.cases import TINY_DDL as DDL

GOOD = "'A1', 3, 'CLICK', '2019-05-05 14:05:20'"


@pytest.mark.parametrize('missing', ['users.csv', 'user_interaction.csv', 'tables.sql'])
def test_missing_input_file_stops_before_loading(tmp_path, missing):
    (tmp_path / 'tables.sql').write_text(DDL)
    (tmp_path / 'users.csv').write_text("1, '18-45', 'DE'")
    (tmp_path / 'user_interaction.csv').write_text(GOOD)
    (tmp_path / missing).unlink()
    with pytest.raises(DatasetError, match=f'{missing}: file not found'):
        check_input_files(LocalFiles(), str(tmp_path))


@pytest.mark.parametrize('content', [b'', b'\n', b'\xef\xbb\xbf\r\n'])
def test_empty_file_stops_before_loading(tmp_path, content):
    (tmp_path / 'tables.sql').write_text(DDL)
    (tmp_path / 'users.csv').write_text("1, '18-45', 'DE'")
    (tmp_path / 'user_interaction.csv').write_bytes(content)
    with pytest.raises(DatasetError, match='user_interaction.csv: file is empty'):
        check_input_files(LocalFiles(), str(tmp_path))


def test_both_plain_and_gzip_files_are_ambiguous(tmp_path):
    (tmp_path / 'users.csv').write_text("1, '18-45', 'DE'")
    (tmp_path / 'users.csv.gz').write_bytes(gzip.compress(b"1, '18-45', 'DE'"))
    with pytest.raises(DatasetError, match='users.csv and users.csv.gz both exist'):
        input_file(LocalFiles(), str(tmp_path), 'users')
    (tmp_path / 'users.csv').unlink()
    assert input_file(LocalFiles(), str(tmp_path), 'users').endswith('/users.csv.gz')


def events_folder(tmp_path, names):
    (tmp_path / 'tables.sql').write_text(DDL)
    (tmp_path / 'users.csv').write_text("1, '18-45', 'DE'")
    (tmp_path / 'user_interaction').mkdir()
    for name in names:
        path = tmp_path / 'user_interaction' / name
        if name.endswith('/'):
            path.mkdir()
        else:
            path.write_bytes(gzip.compress(GOOD.encode()) if name.endswith('.gz') else GOOD.encode())
    return tmp_path


def test_the_events_folder_loads_its_csv_files_in_name_order_and_names_what_it_ignores(tmp_path):
    folder = events_folder(tmp_path, ['2019-05-06.csv', 'events_2019-05-05.csv.gz', '.DS_Store', 'README',
                                      '2019-05-07.csv.tmp', '._2019-05-08.csv', 'old/', 'notes.CSV'])
    tables, inputs = check_input_files(LocalFiles(), str(folder))
    assert [(f.relative, f.file_date) for f in inputs.events] == [
        ('user_interaction/2019-05-06.csv', date(2019, 5, 6)),
        ('user_interaction/events_2019-05-05.csv.gz', date(2019, 5, 5))]
    assert inputs.ignored == ('user_interaction/.DS_Store', 'user_interaction/._2019-05-08.csv',
                              'user_interaction/2019-05-07.csv.tmp', 'user_interaction/README',
                              'user_interaction/notes.CSV', 'user_interaction/old/')
    assert inputs.users.relative == 'users.csv' and set(tables) == {'users', 'user_interaction'}


@pytest.mark.parametrize('names, message', [
    (['a.csv', 'a.csv.gz'], 'a.csv and a.csv.gz both exist'),
    (['README', 'x.tmp'], r'user_interaction/: no event file \(\*.csv or \*.csv.gz\) in the folder; not loaded: '),
])
def test_an_ambiguous_or_empty_events_folder_is_refused(tmp_path, names, message):
    with pytest.raises(DatasetError, match=message):
        find_inputs(LocalFiles(), str(events_folder(tmp_path, names)))


def test_a_single_file_and_the_folder_at_once_are_ambiguous(tmp_path):
    folder = events_folder(tmp_path, ['2019-05-05.csv'])
    (folder / 'user_interaction.csv').write_text(GOOD)
    with pytest.raises(DatasetError, match='user_interaction.csv and the folder .*user_interaction/ both exist'):
        find_inputs(LocalFiles(), str(folder))


def test_an_empty_file_in_the_folder_stops_the_run_naming_it(tmp_path):
    folder = events_folder(tmp_path, ['2019-05-05.csv'])
    (folder / 'user_interaction' / '2019-05-06.csv').write_bytes(b'\xef\xbb\xbf')
    with pytest.raises(DatasetError, match='user_interaction/2019-05-06.csv: file is empty'):
        check_input_files(LocalFiles(), str(folder))


@pytest.mark.parametrize('name, day', [('2019-05-05.csv', date(2019, 5, 5)), ('events_2019-12-31.csv.gz', date(2019, 12, 31)),
                                       ('part_001.csv', None), ('2019-02-30.csv', None), ('x12019-05-05.csv', None)])
def test_a_file_s_date_is_the_date_its_name_carries(name, day):
    assert file_date(name) == day
