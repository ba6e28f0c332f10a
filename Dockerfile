# culm beside HAProxy in one container, configured like Bamboo's image (same environment variables).
# The base is a build argument so the image can be built offline from a locally made base.
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${BASE}
# tini reaps the HAProxy processes that reloads (-sf) leave behind once they finish.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/culm
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY templates ./templates
COPY config ./config
# A young generation of 8 MB semi-spaces instead of 16: 25-70 MB less peak memory at 10,000 apps for no
# measurable CPU (BENCHMARKS.md).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    BIND=:8000 \
    HAPROXY_HTTP_BIND=*:80 \
    HAPROXY_OUTPUT_PATH=/etc/haproxy/haproxy.cfg \
    CULM_DATA_DIR=/var/lib/culm
EXPOSE 8000 80
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD node -e "fetch('http://127.0.0.1:8000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/culm/dist/main.js"]
