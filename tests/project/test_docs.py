"""The README and docs/ keep working: every link resolves (file and heading), every `make` target,
`python -m` module, docker compose service and profile they name exists, and every repository path
they give in backticks is there."""
import re
import shlex
from pathlib import Path

import pytest

from tests.support import compose
from tests.support.project import REPO

PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
INLINE_CODE = re.compile(r'`([^`\n]+)`')
TOP_LEVEL = ('mage_project/', 'tools/', 'tests/', 'docs/', 'dataset/', '.ci/')


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r'[`*_]', '', heading.strip().lower())
    return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip('#')) for line in page.read_text().splitlines() if re.match(r'#{1,6} ', line)}


def commands(page: Path) -> list[str]:
    """Shell lines of the page: lines of its fenced blocks, and its inline code."""
    text = page.read_text()
    found = []
    for block in re.findall(r'```(?:bash|sh)?\n(.*?)```', text, re.S):
        found += [line.split(' #')[0].strip() for line in block.splitlines()]
    outside = re.sub(r'```.*?```', '', text, flags=re.S)
    return [line for line in found + INLINE_CODE.findall(outside) if line]


def make_targets() -> set[str]:
    return set(re.findall(r'^([a-z][\w-]*):', (REPO / 'Makefile').read_text(), re.M))


@pytest.mark.parametrize('page', PAGES, ids=lambda page: page.name)
def test_links_resolve(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r'[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f'{page.name} links to {target}, which does not exist'
        if anchor:
            assert anchor in anchors(resolved), f'{page.name} links to {target}: no such heading in {resolved.name}'


@pytest.mark.parametrize('page', PAGES, ids=lambda page: page.name)
def test_commands_name_what_exists(page):
    targets, services = make_targets(), compose.load()['services']
    profiles = {profile for service in services.values() for profile in service.get('profiles', [])}
    for line in commands(page):
        for match in re.finditer(r'(?:^|\s)make ((?:[a-z][\w-]*\s*)+)', line):
            for word in match[1].split():
                if not re.match(r'^[A-Z_]+=', word):
                    assert word in targets, f'{page.name}: `{line}` names make target {word}, which the Makefile lacks'
        for module in re.findall(r'python3? -m ([\w.]+)', line):
            if module.startswith(('mage_project', 'tools', 'tests')):
                path = REPO / module.replace('.', '/')
                assert path.with_suffix('.py').is_file() or (path / '__main__.py').is_file(), \
                    f'{page.name}: `{line}` runs module {module}, which does not exist'
        if 'docker compose ' in line:
            words = shlex.split(line.split('docker compose ', 1)[1].replace('…', ''))
            check_compose_words(page, line, words, set(services), profiles)


def check_compose_words(page, line, words, services, profiles):
    positional, skip = [], False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word == '--profile':
            assert words[index + 1] in profiles, f'{page.name}: `{line}`: no profile {words[index + 1]}'
            skip = True
        elif word in ('-e', '-f', '-p', '--env-file'):
            skip = True
        elif not word.startswith('-'):
            positional.append(word)
    if positional and positional[0] in ('up', 'run', 'exec', 'logs', 'rm', 'build'):
        named = positional[1:2] if positional[0] in ('run', 'exec') else positional[1:]
        for service in named:
            assert service in services, f'{page.name}: `{line}` names service {service}, which compose lacks'


@pytest.mark.parametrize('page', PAGES, ids=lambda page: page.name)
def test_repository_paths_exist(page):
    for code in INLINE_CODE.findall(page.read_text()):
        path = code.split()[0].rstrip('.,:;')
        if path.startswith(TOP_LEVEL) and not re.search(r'[<*…{$]', path):
            assert (REPO / path).exists(), f'{page.name} gives `{code}`, which is not in the repository'


def test_the_checks_can_fail(tmp_path):
    assert slug('Scale: when to move, and the figures') == 'scale-when-to-move-and-the-figures'
    assert 'no-such-target' not in make_targets() and 'run' in make_targets()
    with pytest.raises(AssertionError, match='names service nope'):
        check_compose_words(tmp_path, 'docker compose run --rm nope', ['run', '--rm', 'nope'], {'pipeline'}, set())
