"""tables.sql: the raw tables' column types, and a broken or unexpected DDL named with its file and line."""
import pytest

from mage_project.ingest.ddl import parse_ddl
from mage_project.ingest.dialect import DatasetError
from tests.support.cases import TINY_DDL as DDL


def test_ddl_types_follow_the_file(tables):
    assert [c.sql_type for c in tables['user_interaction'].columns] == \
        ['varchar(36)', 'int', 'varchar(5)', 'timestamp']
    assert tables['users'].ddl() == 'user_id int, age varchar(5), country varchar(2)'


@pytest.mark.parametrize('ddl, message', [
    ('create table users (user_id int, age varchar(5), country varchar(2));', 'no CREATE TABLE for user_interaction'),
    (DDL + '\ndrop table users;', 'line 3: expected a CREATE TABLE statement'),
    (DDL.replace('users (user_id', 'people (user_id'), "unexpected table 'people'"),
    (DDL.replace('country varchar(2)', 'nation varchar(2)'), 'expected user_id, age, country'),
    (DDL.replace('event_time timestamp', 'event_time json'), "unsupported type 'JSON'"),
    (DDL.replace('varchar(2));', 'varchar(2);'), r'line 1, column \d+: cannot parse the DDL'),
])
def test_broken_ddl_names_file_and_problem(tmp_path, ddl, message):
    path = tmp_path / 'tables.sql'
    path.write_text(ddl)
    with pytest.raises(DatasetError, match=message) as error:
        parse_ddl(path)
    assert str(path) in str(error.value)


def test_comments_may_hold_semicolons_and_types_their_synonyms(tmp_path):
    path = tmp_path / 'tables.sql'
    path.write_text('-- the raw tables; as the feed sends them\n/* users; then events */\n'
                    + DDL.replace('user_id int', 'user_id integer', 1).replace('varchar(36)', 'character varying(36)'))
    tables = parse_ddl(path)
    assert [c.sql_type for c in tables['user_interaction'].columns] == ['varchar(36)', 'int', 'varchar(5)', 'timestamp']
    assert tables['users'].columns[0].sql_type == 'int'


def test_missing_ddl_is_a_file_error(tmp_path):
    with pytest.raises(DatasetError, match='tables.sql: file not found'):
        parse_ddl(tmp_path / 'tables.sql')
