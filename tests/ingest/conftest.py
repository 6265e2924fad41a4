"""The raw tables of tables.sql, parsed from the take-home's DDL in a test's own folder."""
import pytest

from mage_project.ingest.ddl import parse_ddl
from tests.support.cases import TINY_DDL


@pytest.fixture
def tables(tmp_path):
    (tmp_path / 'tables.sql').write_text(TINY_DDL)
    return parse_ddl(tmp_path / 'tables.sql')
