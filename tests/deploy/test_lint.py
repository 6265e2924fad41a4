"""The Python code passes the linter `make lint` runs (pyflakes errors, syntax, import order)."""
import re
import subprocess

import pytest

from tests.conftest import REPO

RUFF = REPO / '.venv-tools' / 'bin' / 'ruff'


def test_python_code_passes_ruff():
    if not RUFF.exists():
        pytest.skip('ruff is not installed (make test installs it into .venv-tools)')
    arguments = re.search(r'^RUFF_ARGS := (.+)$', (REPO / 'Makefile').read_text(), re.M)[1].split()
    result = subprocess.run([str(RUFF), *arguments], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
