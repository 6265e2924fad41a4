"""What the tests share: the project's paths and copies (project), databases and their snapshots
(database), processes and waiting (processes), the bad-input catalogue and the format variants
(cases), the SQL models on given rows (sql_models), a Mage server and its API (mage_server),
docker compose (compose, docker), Spark (spark_engines, spark_cluster) and the independent pandas
reading of the answers (oracle). Test modules import from here, never from each other."""
