"""tables.sql: the DDL of the raw tables, parsed with sqlglot into the dialect's Tables. Only
CREATE TABLE statements for the catalog's raw tables, with exactly its columns in order, are
accepted, so no SQL from the file is ever executed: it contributes the column types alone."""
from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from mage_project.catalog import RAW_TABLES
from mage_project.ingest.dialect import DatasetError, Table, column_from_ddl


def _statements(path: Path, text: str) -> list[tuple[int, object]]:
    """(line, statement) for every statement of ``text``, parsed by sqlglot as Postgres; a syntax
    error is a DatasetError naming the file, line and column."""
    dialect = sqlglot.Dialect.get_or_raise('postgres')
    try:
        tokens = dialect.tokenize(text)
        statements = [statement for statement in dialect.parse(text) if statement is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        detail = error.errors[0] if getattr(error, 'errors', None) else {}
        where = f"line {detail['line']}, column {detail['col']}" if 'line' in detail else 'a statement'
        message = detail.get('description') or str(error).splitlines()[0]
        raise DatasetError(f'{path}, {where}: cannot parse the DDL: {message}') from None
    lines, starts_statement = [], True
    for token in tokens:
        if starts_statement and token.token_type != TokenType.SEMICOLON:
            lines.append(token.line)
        starts_statement = token.token_type == TokenType.SEMICOLON
    return list(zip(lines, statements))


def parse_ddl(path: Path) -> dict[str, Table]:
    """Parse tables.sql into the catalog's raw tables, or raise DatasetError naming file and line."""
    if not path.is_file():
        raise DatasetError(f'{path}: file not found (the DDL of the raw tables)')
    return parse_ddl_text(path, path.read_text(encoding='utf-8-sig'))


def parse_ddl_text(path, text: str) -> dict[str, Table]:
    """parse_ddl on the text of ``path`` (a local path or a URI, for messages)."""
    tables: dict[str, Table] = {}
    for line, statement in _statements(path, text):
        where = f'{path}, line {line}'
        if not (isinstance(statement, exp.Create) and statement.kind == 'TABLE'
                and isinstance(statement.this, exp.Schema)):
            raise DatasetError(f'{where}: expected a CREATE TABLE statement, found {statement.sql("postgres")[:60]!r}')
        name = statement.this.this.name.lower()
        if name not in RAW_TABLES:
            raise DatasetError(f'{where}: unexpected table {name!r} (expected {", ".join(RAW_TABLES)})')
        if name in tables:
            raise DatasetError(f'{where}: table {name} is defined twice')
        definitions = statement.this.expressions
        if not all(isinstance(column, exp.ColumnDef) and column.args.get('kind') for column in definitions):
            raise DatasetError(f'{where}: table {name} has a definition that is not a typed column')
        columns = [column_from_ddl(definition.name.lower(), definition.args['kind'].sql('postgres'), where)
                   for definition in definitions]
        names = tuple(column.name for column in columns)
        if names != RAW_TABLES[name]:
            raise DatasetError(
                f'{where}: table {name} has columns {", ".join(names)}; '
                f'expected {", ".join(RAW_TABLES[name])}'
            )
        tables[name] = Table(name, tuple(columns))
    missing = [name for name in RAW_TABLES if name not in tables]
    if missing:
        raise DatasetError(f'{path}: no CREATE TABLE for {", ".join(missing)}')
    return tables
