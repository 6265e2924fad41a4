"""The code passes the linters `make lint` runs: ruff on Python, sqlfluff on the SQL blocks."""
import re
import subprocess

import pytest

from tests.support.project import REPO

TOOLS = REPO / '.venv-tools' / 'bin'
RUFF, SQLFLUFF = TOOLS / 'ruff', TOOLS / 'sqlfluff'


def test_python_code_passes_ruff():
    if not RUFF.exists():
        pytest.skip('ruff is not installed (make test installs it into .venv-tools)')
    arguments = re.search(r'^RUFF_ARGS := (.+)$', (REPO / 'Makefile').read_text(), re.M)[1].split()
    result = subprocess.run([str(RUFF), *arguments], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sql_blocks_pass_sqlfluff():
    if not SQLFLUFF.exists():
        pytest.skip('sqlfluff is not installed (make test installs it into .venv-tools)')
    result = subprocess.run([str(SQLFLUFF), 'lint', 'mage_project/transformers'], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
