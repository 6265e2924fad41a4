"""Least privilege and no data in SQL text."""
import ast
import secrets
from pathlib import Path

from tests.support.project import REPO


def test_pipeline_runs_as_a_role_without_superuser(run_pipeline, database):
    role, reader = f'pipeline_{secrets.token_hex(4)}', f'analyst_{secrets.token_hex(4)}'
    password = secrets.token_urlsafe(12)
    with database.admin() as conn, conn.cursor() as cursor:
        cursor.execute(f'create role {role} login nosuperuser nocreatedb nocreaterole password %s', (password,))
        cursor.execute(f'create role {reader} login nosuperuser')
        # The grants the README documents for prod: connect and create schemas in its database.
        cursor.execute(f'grant connect, create on database "{database.env["POSTGRES_DB"]}" to {role}')
    run_pipeline(REPO / 'dataset', {'POSTGRES_USER': role, 'POSTGRES_PASSWORD': password,
                                    'ANALYTICS_READER_ROLES': reader})
    assert database.rows('select rolsuper from pg_roles where rolname = %s', (role,)) == [(False,)]
    assert database.rows("select schema_owner from information_schema.schemata where schema_name = 'analytics'") == [(role,)]
    privileges = dict(database.rows(
        "select n.nspname, has_schema_privilege(%s, n.oid, 'usage') from pg_namespace n "
        "where n.nspname in ('raw', 'staging', 'analytics')", (reader,)))
    assert privileges == {'raw': False, 'staging': False, 'analytics': True}
    assert database.rows("select has_table_privilege(%s, 'analytics.answers', 'select')", (reader,)) == [(True,)]


def sql_calls_with_formatted_text(path: Path) -> list[str]:
    """execute/copy_expert calls whose SQL is an f-string, a %-formatted string or a str.format()."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', '') in ('execute', 'copy_expert', 'fetch_frame', 'psql'):
            args = node.args[1:] if node.func.attr == 'fetch_frame' else node.args
            if not args:
                continue
            query = args[0]
            formatted = (isinstance(query, ast.JoinedStr)
                         or (isinstance(query, ast.BinOp) and isinstance(query.op, ast.Mod))
                         or (isinstance(query, ast.Call) and getattr(query.func, 'attr', '') == 'format'
                             and isinstance(query.func.value, ast.Constant)))
            if formatted:
                found.append(f'{path.relative_to(REPO)}:{node.lineno}')
    return found


def test_sql_check_catches_formatted_queries(tmp_path):
    sample = REPO / 'tests' / '_formatted_sql_sample.py'
    sample.write_text("cursor.execute(f'select {value}')\ncursor.execute('select %s' % value)\n"
                      "cursor.execute('select {}'.format(value))\ncursor.execute('select %s', (value,))\n")
    try:
        assert [place.split(':')[1] for place in sql_calls_with_formatted_text(sample)] == ['1', '2', '3']
    finally:
        sample.unlink()


def test_no_sql_in_the_project_is_built_by_formatting_strings():
    found = [place for path in (REPO / 'mage_project').rglob('*.py') for place in sql_calls_with_formatted_text(path)]
    assert not found, f'SQL built with string formatting (use parameters and psycopg2.sql.Identifier): {found}'
