# Stand-in for postgres:16, for the compose tests only (no registry is reachable there): Debian
# bookworm with PostgreSQL 16 from the pgserver wheel of the lock, keeping the official image's
# documented contract (hub.docker.com/_/postgres): POSTGRES_PASSWORD, POSTGRES_USER and POSTGRES_DB,
# initdb into PGDATA (/var/lib/postgresql/data, a volume) on the first start only, in en_US.utf8
# (so UTF8 databases, as the official image makes), password
# authentication over TCP, the server run as the postgres user, pg_isready and psql on the path.
ARG BASE
FROM ${BASE}
ARG PGSERVER_WHEEL
ADD ${PGSERVER_WHEEL} /build/pgserver.whl
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip locales \
    # the official image's locale, so that initdb makes UTF8 databases with its collation
    && localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8 \
    && unzip -q /build/pgserver.whl 'pgserver/pginstall/*' 'pgserver.libs/*' -d /build/pgserver \
    && mkdir -p /usr/lib/postgresql && mv /build/pgserver/pgserver/pginstall /usr/lib/postgresql/16 \
    # the binaries find their bundled libraries at $ORIGIN/../../../pgserver.libs
    && mv /build/pgserver/pgserver.libs /usr/lib/pgserver.libs \
    && rm -r /build \
    && apt-get purge -y -qq unzip && rm -rf /var/lib/apt/lists/* \
    && groupadd -r postgres --gid=999 \
    && useradd -r -g postgres --uid=999 --home-dir=/var/lib/postgresql --shell=/bin/bash postgres \
    && mkdir -p /var/lib/postgresql/data && chown -R postgres:postgres /var/lib/postgresql
ENV PATH="/usr/lib/postgresql/16/bin:$PATH" PGDATA=/var/lib/postgresql/data LANG=en_US.utf8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
