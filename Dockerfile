# culm beside HAProxy in one container, configured like Bamboo's image (same environment variables).
# The base is a build argument so the image can be built offline from a locally made base.
# Builds with Docker and with `podman build --format docker` (the OCI format has no HEALTHCHECK).
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${BASE}
# tini reaps the HAProxy processes that reloads (-sf) leave behind once they finish. The package lists and
# downloaded packages go in the same layer (a base without Debian's docker-clean would keep ~100 MB).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy tini ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
WORKDIR /opt/culm
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY templates ./templates
COPY config ./config
# `culm` and `bamboo` on the PATH (Bamboo's tutorials run `bamboo -config_from_flags ...`).
COPY docker/culm /usr/local/bin/culm
COPY docker/culm /usr/local/bin/bamboo
# A young generation of 8 MB semi-spaces instead of 16: 25-70 MB less peak memory at 10,000 apps for no
# measurable CPU (BENCHMARKS.md).
# HAProxy ends with the container: on `docker stop` it finishes its requests in flight first (StopOnExit,
# within CULM_HAPROXY_STOP_GRACE_MS, 8 s by default, under Docker's 10 s), and its log is on culm's stdout.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    BIND=:8000 \
    HAPROXY_HTTP_BIND=*:80 \
    HAPROXY_OUTPUT_PATH=/etc/haproxy/haproxy.cfg \
    CULM_DATA_DIR=/var/lib/culm \
    CULM_HAPROXY_STOP_ON_EXIT=true \
    CULM_HAPROXY_LOG=true
# The file store: rules (when there is no ZooKeeper), the last state from Marathon, the callback token.
VOLUME /var/lib/culm
EXPOSE 8000 80
# Ready = state synced, a config applied and HAProxy running it, probed at the configured BIND; the start
# period covers the first sync.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/opt/culm/dist/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/culm"]
