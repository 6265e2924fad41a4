"""The pipeline's SQL blocks on Spark: one source of truth for the question logic.

Each SQL block of the Postgres pipeline is rendered as Mage renders it (models/sql.py) and
translated from Postgres to Spark SQL with sqlglot. The SQL files keep to a subset both engines
read alike; what sqlglot does not translate is done by the small, named rewrites below:

- ``build_tables_to_views``: a table of the run, named bare (in Postgres, the run's search_path
  finds it in its build schema), becomes the Spark temporary view of this run's table. CTEs of the
  same name are told apart by sqlglot's scopes: an import CTE ``with stg_users as (select ... from
  stg_users)`` reads the table inside its own definition, and is the CTE everywhere after it.
- ``drop_materialized``: ``with x as materialized (...)`` is a Postgres planner hint; Spark has no
  such clause (and computes a CTE where it is used).
- ``drop_collate``: ``x collate "C"`` compares ``x`` byte by byte in Postgres, as Spark compares
  strings already.
- ``regexp_match_to_array``: Postgres ``regexp_match(text, pattern)`` returns the pattern's groups
  as an array (null without a match, null for a group that took no part); Spark gets the same
  array from ``regexp_extract``, one call per group (a group that matches an empty string would
  read as null, so patterns here must not have such groups).
"""
from __future__ import annotations

import re
from typing import Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.scope import traverse_scope

from mage_project.models.sql import SqlBlock, sql_blocks


def build_tables_to_views(tree: exp.Expression, view_name: Callable[[str], str]) -> exp.Expression:
    for scope in traverse_scope(tree):
        for _, source in scope.selected_sources.values():
            if not isinstance(source, exp.Table):
                continue  # a CTE or a subquery of the query itself
            if source.db:
                raise sqlglot.errors.UnsupportedError(f'{source.sql("postgres")}: a block reads its run\'s tables by '
                                                      'their bare names only')
            if not source.alias:  # column qualifiers keep naming it as before
                source.set('alias', exp.TableAlias(this=exp.to_identifier(source.name)))
            source.set('this', exp.to_identifier(view_name(source.name)))
    return tree


def drop_materialized(tree: exp.Expression) -> exp.Expression:
    for cte in tree.find_all(exp.CTE):
        cte.set('materialized', None)
    return tree


def drop_collate(tree: exp.Expression) -> exp.Expression:
    def rewrite(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Collate):
            return node
        if node.expression.name != 'C':
            raise sqlglot.errors.UnsupportedError(f'only collate "C" reads alike on Spark: {node.sql("postgres")}')
        return node.this
    return tree.transform(rewrite)


def regexp_match_to_array(tree: exp.Expression) -> exp.Expression:
    def rewrite(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Anonymous) and node.name.lower() == 'regexp_match'):
            return node
        subject, pattern = node.expressions
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise sqlglot.errors.UnsupportedError(f'regexp_match needs a literal pattern on Spark: {node.sql("postgres")}')
        groups = re.compile(pattern.this).groups
        parts = [exp.func('nullif', exp.RegexpExtract(this=subject.copy(), expression=pattern.copy(),
                                                      group=exp.Literal.number(i)),
                          exp.Literal.string('')) for i in range(1, groups + 1)]
        return exp.Case(ifs=[exp.If(this=exp.RegexpLike(this=subject.copy(), expression=pattern.copy()),
                                    true=exp.Array(expressions=parts))])
    return tree.transform(rewrite)


def to_spark(query: str, view_name: Callable[[str], str]) -> str:
    """A Postgres query of the pipeline as Spark SQL, its build tables read from temporary views;
    sqlglot raises on anything it cannot translate, rather than warn."""
    tree = sqlglot.parse_one(query, read='postgres')
    tree = regexp_match_to_array(drop_collate(drop_materialized(build_tables_to_views(tree, view_name))))
    return tree.sql('spark', unsupported_level=ErrorLevel.RAISE)


def spark_blocks(variables: dict | None = None) -> list[tuple[SqlBlock, str]]:
    """(block, Postgres query rendered with the run's ``variables``) for every SQL block of the
    Postgres pipeline, in pipeline order."""
    return [(block, block.render(variables)) for block in sql_blocks()]
