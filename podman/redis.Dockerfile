# Redis for the compose stack where no registry serves redis:7.4.6-alpine: Debian's
# redis-server on GeoPin's local base (scripts/containers build). Debian bookworm ships 7.0,
# which has everything GeoPin uses (AOF with a manifest, noeviction).
ARG BASE_IMAGE=localhost/geopin-base:bookworm
FROM ${BASE_IMAGE}
# The package's postinst makes the `redis` user; /data is the volume compose mounts, owned
# by that user so a new volume starts writable.
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && install -d -o redis -g redis -m 0750 /data
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]
CMD ["redis-server"]
