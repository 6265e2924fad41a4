"""Each pipeline publishes its own set of views. A Spark run (here a build copied from the published
tables, published with the Spark pipeline's set, so no Spark is needed) drops the views only the
Postgres pipeline publishes, so no layer describes an older run; if an analyst's view depends on one
of them, the publish is refused before any change, naming it."""
import subprocess
import sys

from tests.support.project import REPO, output

PUBLISH_AS_SPARK = '''
from psycopg2 import sql
from mage_project.builds import lifecycle, publish
from mage_project.catalog import SPARK_PIPELINE, published_by
from mage_project.core import db
from mage_project.core.settings import connection_settings

settings = connection_settings('test')
build = lifecycle.begin(lifecycle.new_run_id(), 'copied', settings, 21600)
spark_set = published_by(SPARK_PIPELINE)
with db.transaction(settings) as conn, conn.cursor() as cursor:
    for layer, name in publish.relations(spark_set):
        cursor.execute(sql.SQL('create table {} as select * from {}').format(
            sql.Identifier(build.schema, name), sql.Identifier(layer, name)))
try:
    publish.publish(build, [], 5, settings, published=spark_set)
    print('published', build.run_id)
except publish.PublishRefused as error:
    print(error)
'''
POSTGRES_ONLY = ("select schemaname || '.' || viewname from pg_views where schemaname in ('raw', 'staging', "
                 "'intermediate') order by 1")


def test_a_spark_publish_drops_the_postgres_only_views_unless_others_depend_on_them(run_pipeline, base_env,
                                                                                      database):
    run_pipeline(REPO / 'dataset')
    answers = database.rows('select * from analytics.answers order by 1')
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute('create view public.analyst_users as select user_id from raw.users')

    def publish_as_spark():
        return subprocess.run([sys.executable, '-c', PUBLISH_AS_SPARK], cwd=REPO, env=base_env(REPO / 'dataset'),
                              capture_output=True, text=True, timeout=120)

    refused = publish_as_spark()
    assert refused.returncode == 0, output(refused)
    assert ('raw.users (published by the other pipeline) would be dropped, and public.analyst_users '
            'depend on it') in refused.stdout
    assert len(database.rows(POSTGRES_ONLY)) == 11  # nothing changed
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute('drop view public.analyst_users')

    published = publish_as_spark()
    assert published.stdout.startswith('published'), output(published)
    assert database.rows(POSTGRES_ONLY) == [('raw.adjusted_values',), ('raw.load_audit',), ('raw.rejected_rows',)]
    assert database.rows('select * from analytics.answers order by 1') == answers
    run_id = published.stdout.split()[1]
    assert database.rows('select status from audit.pipeline_runs where run_id = %s', (run_id,)) == [('published',)]
