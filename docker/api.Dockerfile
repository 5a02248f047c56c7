# syntax=docker/dockerfile:1
# Trainyard API only (HTTP API, dashboard, websocket streams); no training, so no native TensorFlow.
# Build from the repository root:  docker build -f docker/api.Dockerfile -t trainyard-api .
# See docker/README.md.

# Node 22, a maintained LTS line that package.json's engines and Prisma 7 (^22.12) allow; CI runs the engine and API suites on it.
ARG NODE_VERSION=22.23.3
FROM node:${NODE_VERSION}-bookworm-slim

WORKDIR /app

# Dependencies first (same order in every Trainyard image), so a source change does not reinstall them.
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
# - --include=dev: dev dependencies stay (the processes run TypeScript through tsx; scripts such as
#   `npm run migrate` use them). Without it a NODE_ENV=production environment would drop them.
# - --ignore-scripts, then the one script the API needs: the optional @tensorflow/tfjs-node(-gpu)
#   packages would otherwise download libtensorflow (hundreds of MB) that the API never loads, and
#   `--omit=optional` would also drop esbuild's platform binary (an optional dependency) that tsx
#   needs. The API does not train, so both native TensorFlow packages are removed; the rest of the
#   tree is exactly the lockfile's.
# - prisma-generate.mjs is the package's postinstall: it generates the Prisma client offline.
RUN npm ci --include=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@tensorflow/tfjs-node node_modules/@tensorflow/tfjs-node-gpu \
 && node scripts/prisma-generate.mjs \
 && npm cache clean --force

COPY src ./src
COPY workers ./workers
COPY bin ./bin
COPY openapi ./openapi
COPY examples ./examples

# ARTIFACT_DIR=data/artifacts and DATA_DIR=data/datasets (the defaults) are relative to /app: the
# folder is created here, owned by the runtime user, so a new named volume mounted on it is writable.
RUN mkdir -p data/artifacts data/datasets && chown -R node:node data

ENV NODE_ENV=production
# The node image's unprivileged user (uid 1000), the same uid in every Trainyard image: they share /app/data.
USER node

EXPOSE 3000
# No curl in slim images: Node's fetch does the probe. /healthz answers while the process is alive.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "workers/api.ts"]
