# Stand-in for mageai/mageai:0.9.80, for the compose tests only (no registry is reachable there):
# Debian bookworm with Python 3.11 and mage-ai from the lock, laid out as the official image is
# (github.com/mage-ai/mage-ai, Dockerfile): root, python, pip and mage in /usr/local/bin, packages
# in /usr/local/lib/python3.*/site-packages, the project at /home/src; the official image runs
# Python 3.10 and adds mage-ai's optional extras, which the project does not use.
ARG BASE
FROM ${BASE}
ARG WHEELS
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3.11 python3.11-venv postgresql-client curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A virtual environment rooted at /usr/local puts python, pip and mage where the official image has them.
RUN python3.11 -m venv /usr/local
COPY requirements.txt /build/requirements.txt
RUN pip install --no-cache-dir --quiet --disable-pip-version-check --no-index --find-links "$WHEELS" \
        -c /build/requirements.txt mage-ai \
    && rm -r /build
ENV MAGE_DATA_DIR="/home/src/mage_data"
ENV PYTHONPATH=":/home/src"
WORKDIR /home/src
EXPOSE 6789
CMD ["mage", "start", "default_repo"]
