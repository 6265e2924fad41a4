"""Rules the design rests on, stated where they apply (the modules' docstrings) and checked here:
the layers of mage_project import only downwards and the tools sit above them all; the line reader
that Spark ships to its executors needs the standard library alone; every pipeline runs its blocks
in one process."""
import ast
import sys
from pathlib import Path

import pytest
import yaml

from mage_project.catalog import PIPELINES
from tests.support.project import REPO

# The packages of mage_project from the bottom up: a module imports its own package and those below
# it, never one above. Mage's block folders sit on top and may use any of them; tools/ is above the
# whole project, which never imports it.
LAYERS = ('catalog', 'core', 'ingest', 'builds', 'models', 'answers', 'spark')
BLOCK_FOLDERS = ('data_loaders', 'transformers', 'data_exporters', 'charts')


def imports(path: Path, names_too: bool = False) -> set[str]:
    """The modules ``path`` imports, anywhere in it, as written; with ``names_too``, also each name
    imported from a module as a module of its own (``from package import module``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = '.' * node.level + (node.module or '')
            found |= {module} | ({f'{module}.{alias.name}' for alias in node.names} if names_too else set())
    return found


def layer(module: str) -> int | None:
    """The layer of a module of mage_project (None: not in a layer)."""
    parts = module.split('.')
    if parts[0] != 'mage_project' or len(parts) < 2:
        return None
    if parts[1] in BLOCK_FOLDERS:
        return len(LAYERS)
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def project_modules() -> dict[str, Path]:
    modules = {}
    for path in (REPO / 'mage_project').rglob('*.py'):
        relative = path.relative_to(REPO).with_suffix('')
        modules['.'.join(relative.parts[:-1] if relative.name == '__init__' else relative.parts)] = path
    return modules


def climbing(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in sorted(modules.items()):
        for imported in imports(path):
            if imported.startswith(('tools', 'tests')):
                found.append(f'{module} imports {imported}: the project never imports the tools or the tests')
            elif layer(module) is not None and layer(imported) is not None and layer(imported) > layer(module):
                found.append(f'{module} imports {imported}, a layer above it')
    return found


def cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Import cycles among ``modules``, each as the modules around it."""
    graph = {module: {imported for imported in imports(path, names_too=True) if imported in modules and imported != module}
             for module, path in modules.items()}
    found, state = [], {}

    def visit(module, trail):
        state[module] = 'open'
        for neighbour in sorted(graph[module]):
            if state.get(neighbour) == 'open':
                found.append(trail[trail.index(neighbour):] + [neighbour])
            elif neighbour not in state:
                visit(neighbour, trail + [neighbour])
        state[module] = 'done'

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_every_package_of_the_project_has_a_layer():
    packages = {path.parent.name for path in (REPO / 'mage_project').glob('*/__init__.py')} - {'pipelines'}
    assert packages <= set(LAYERS), f'packages without a layer: {sorted(packages - set(LAYERS))}'


def test_the_project_imports_only_downwards():
    assert climbing(project_modules()) == []


def test_no_module_of_the_project_or_the_tools_is_in_an_import_cycle():
    modules = project_modules()
    for path in (REPO / 'tools').rglob('*.py'):
        relative = path.relative_to(REPO).with_suffix('')
        modules['.'.join(relative.parts[:-1] if relative.name == '__init__' else relative.parts)] = path
    assert cycles(modules) == []


def test_the_checks_find_a_climbing_import_and_a_cycle(tmp_path):
    low, high = tmp_path / 'low.py', tmp_path / 'high.py'
    low.write_text('def f():\n    from mage_project.answers import sentences\n')
    high.write_text('import mage_project.core.low\n')
    assert climbing({'mage_project.core.low': low}) == [
        'mage_project.core.low imports mage_project.answers, a layer above it']
    (cycle,) = cycles({'mage_project.core.low': low, 'mage_project.answers': high})
    assert cycle[0] == cycle[-1] and set(cycle) == {'mage_project.core.low', 'mage_project.answers'}


def test_the_line_reader_shipped_to_spark_executors_is_standard_library_only():
    """spark.load ships mage_project/ingest/dialect.py, alone, to the executors, which run its
    careful_line: anything it imports beyond the standard library would be missing there."""
    imported = {name.split('.')[0] for name in imports(REPO / 'mage_project' / 'ingest' / 'dialect.py')}
    outside = imported - set(sys.stdlib_module_names) - {'__future__'}
    assert not outside, f'ingest/dialect.py imports {sorted(outside)}, which the executors do not have'


@pytest.mark.parametrize('pipeline', PIPELINES)
def test_each_pipeline_runs_its_blocks_in_one_process(pipeline):
    """The build schema reaches later blocks through the process's environment and a module-global
    owner connection (builds/lifecycle.py, the one-process rule): only so within one process."""
    metadata = yaml.safe_load((REPO / 'mage_project' / 'pipelines' / pipeline / 'metadata.yaml').read_text())
    assert metadata.get('run_pipeline_in_one_process') is True, \
        f'{pipeline} must set run_pipeline_in_one_process: true'
