"""The input files, checked before any database work: missing, empty and ambiguous files are named."""
import gzip

import pytest

from mage_project.ingest.dialect import DatasetError
from mage_project.ingest.files import LocalFiles, check_input_files, input_file

DDL = """create table users (user_id int, age varchar(5), country varchar(2));
create table user_interaction (event_id varchar(36), user_id int, event_type varchar(5), event_time timestamp);"""
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
