# Stand-in for apache/spark:4.1.2-scala2.13-java17-python3-ubuntu, for the compose tests only (no
# registry is reachable there): Debian bookworm with Java 17, Python 3 and the lock's pyspark, which
# carries Spark itself. Laid out as the official image is: Spark in /opt/spark (spark-class in
# /opt/spark/bin), the spark user (uid 185), /opt/spark/work-dir the working directory.
ARG BASE
FROM ${BASE}
ARG WHEELS
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        openjdk-17-jre-headless python3 python3-venv procps \
    && rm -rf /var/lib/apt/lists/*
COPY requirements-spark.txt /build/requirements-spark.txt
RUN python3 -m venv /opt/pyspark \
    && /opt/pyspark/bin/pip install --no-cache-dir --quiet --disable-pip-version-check --no-index \
        --find-links "$WHEELS" -r /build/requirements-spark.txt \
    && rm -r /build \
    && groupadd --system --gid=185 spark \
    && useradd --system --uid=185 --gid=spark --home-dir=/opt/spark spark \
    && mkdir -p /opt/spark/work-dir /opt/spark/work \
    && for part in bin sbin jars python; do \
         ln -s "/opt/pyspark/lib/python3.11/site-packages/pyspark/$part" "/opt/spark/$part"; done \
    && chown -R spark:spark /opt/spark
ENV SPARK_HOME=/opt/spark PATH="/opt/spark/bin:$PATH"
WORKDIR /opt/spark/work-dir
USER spark
