# Elasticsearch for the compose stack where no registry serves Elastic's image: the same
# integ-test zip scripts/elasticsearch runs (Maven Central; no bundled JDK, only the modules
# GeoPin needs), on Debian's JRE 17 and GeoPin's local base. Build context: a folder holding
# elasticsearch-$ES_VERSION.zip and elasticsearch-entrypoint.sh (scripts/containers build).
ARG BASE_IMAGE=localhost/geopin-base:bookworm

FROM ${BASE_IMAGE} AS unpack
ARG ES_VERSION
COPY elasticsearch-${ES_VERSION}.zip /tmp/es.zip
# Python's zipfile, since the base has Python and no unzip; it drops the mode bits, which the
# next step restores.
RUN python3 -m zipfile -e /tmp/es.zip /opt \
 && mv /opt/elasticsearch-${ES_VERSION} /opt/elasticsearch \
 && chmod 0755 /opt/elasticsearch/bin/*

FROM ${BASE_IMAGE}
# The JRE (Elasticsearch 8 runs on 17 and newer); curl for the health check compose declares,
# as Elastic's image has it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --gid 1000 elasticsearch \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /usr/share/elasticsearch \
      --shell /usr/sbin/nologin elasticsearch
COPY --from=unpack --chown=1000:1000 /opt/elasticsearch /usr/share/elasticsearch
COPY elasticsearch-entrypoint.sh /usr/local/bin/elasticsearch-entrypoint
# As in Elastic's image: listen on the container's address; data, logs and the keystore that
# the node writes at its first start live under its home, owned by its user.
RUN printf 'network.host: 0.0.0.0\n' >>/usr/share/elasticsearch/config/elasticsearch.yml \
 && install -d -o 1000 -g 1000 /usr/share/elasticsearch/data /usr/share/elasticsearch/logs
ENV ES_JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PATH=/usr/share/elasticsearch/bin:$PATH
WORKDIR /usr/share/elasticsearch
USER 1000:1000
EXPOSE 9200
ENTRYPOINT ["/usr/local/bin/elasticsearch-entrypoint"]
