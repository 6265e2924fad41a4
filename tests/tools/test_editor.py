"""The editor's start refuses what would make it unsafe or unreachable: a guessable owner password
and a port already in use (make editor and the docker compose mage service)."""
import socket

import pytest

from mage_project.core.settings import ConfigurationError
from tools.editor import check_owner_password, check_port_free


@pytest.mark.parametrize('password, reason', [
    ('admin', 'shorter than 12 characters'),
    ('short-1', 'shorter than 12 characters'),
    ('password1234', 'well-known default'),
    ('Administrator!', 'well-known default'),
    ('ownerownerowner', "contains the owner's email or username"),
    ('jane.doe-2026-x', "contains the owner's email or username"),
    ('aaaaaaaaaaaaaaaa', 'repeats too few characters'),
])
def test_guessable_owner_passwords_are_refused(password, reason):
    with pytest.raises(ConfigurationError, match=f"^MAGE_OWNER_PASSWORD .*{reason}"):
        check_owner_password(password, 'jane.doe@example.com', 'owner')


def test_a_random_owner_password_passes():
    check_owner_password('Vq8-3rTz_kP1mW0x', 'jane.doe@example.com', 'owner')


def test_a_port_in_use_is_named():
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(ConfigurationError, match=f'port {port} is already in use on this host'):
            check_port_free(port)
    check_port_free(port)  # free again once closed


@pytest.mark.parametrize('port', ['http', '0', '70000'])
def test_a_port_that_is_not_one_is_named(port):
    with pytest.raises(ConfigurationError, match=f"MAGE_PORT='{port}' is not a port number"):
        check_port_free(port)
