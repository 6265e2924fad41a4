# The image of the mage, pipeline and pipeline-spark services (docker-compose.yml builds it): Mage's
# official image plus what the project needs beyond it, installed from the lock at build time. It
# holds packages only: no code, no data and no secret (compose mounts the repository at /home/src,
# and .dockerignore keeps everything but the locks out of the build context).
#   docker compose build            # both targets; MAGE_IMAGE picks another base image
ARG MAGE_IMAGE=mageai/mageai:0.9.80

# --- mage: the editor (`mage start`) and the one-shot run (`mage run`) -------------------------
FROM ${MAGE_IMAGE} AS mage
# A folder or URL of wheels to install from instead of PyPI (pip --no-index --find-links). Empty,
# the default, installs from PyPI; the compose tests point it at wheels fetched on the host.
ARG WHEELS=
# The packages the project imports beyond mage-ai, at the lock's versions. Not the whole lock: the
# image's mage-ai and its dependencies stay as Mage built them (its Python is 3.10, the lock's 3.11).
COPY mage_project/requirements.txt /build/locks/
RUN pip install --no-cache-dir --quiet --disable-pip-version-check \
        ${WHEELS:+--no-index --find-links "$WHEELS"} -r /build/locks/requirements.txt \
    && rm -r /build

# --- spark: the Spark pipeline's driver, with Java 17 and the cluster's pyspark ---------------
FROM mage AS spark
ARG WHEELS=
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
COPY requirements-spark.txt /build/locks/
RUN pip install --no-cache-dir --quiet --disable-pip-version-check \
        ${WHEELS:+--no-index --find-links "$WHEELS"} -r /build/locks/requirements-spark.txt \
    && rm -r /build
