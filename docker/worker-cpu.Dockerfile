# syntax=docker/dockerfile:1
# Trainyard CPU training worker: BullMQ worker + trainer child process on native TensorFlow
# (@tensorflow/tfjs-node, libtensorflow 2.9.1 CPU). No tfjs-node-gpu, no CUDA.
# Build from the repository root:  docker build -f docker/worker-cpu.Dockerfile -t trainyard-worker-cpu .
# See docker/README.md. linux/amd64 only (no prebuilt libtensorflow for other Linux CPUs in tfjs-node 4.22).

ARG NODE_VERSION=22.23.3

# ---- build: install the lockfile's tree and tfjs-node's native part --------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
# Compilers only for the fallback: tfjs-node downloads a prebuilt addon (node-pre-gyp) and builds it
# from source with node-gyp when none is published for this platform. They stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
# npm ci with scripts off installs exactly the lockfile (dev dependencies included: tsx runs the
# TypeScript), then only tfjs-node's install script runs: it downloads libtensorflow 2.9.1 (CPU)
# and the addon. Run through `npm rebuild`, a failed download fails the build, where `npm install`
# would silently drop the optional package and the worker would have no native backend.
# `npm install --no-save @tensorflow/tfjs-node` is no substitute: it reifies the whole tree again,
# tfjs-node-gpu included (and with --omit=optional it installs nothing, both are optional edges).
RUN npm ci --include=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@tensorflow/tfjs-node-gpu \
 && npm rebuild --foreground-scripts @tensorflow/tfjs-node \
 && node scripts/prisma-generate.mjs \
 && ls node_modules/@tensorflow/tfjs-node/lib/napi-v*/tfjs_binding.node \
       node_modules/@tensorflow/tfjs-node/deps/lib/libtensorflow.so.2.9.1

# ---- runtime ----------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
COPY src ./src
COPY workers ./workers
COPY bin ./bin
COPY openapi ./openapi
COPY examples ./examples
# Loads libtensorflow once, here, so a missing shared library fails the build, not the first job.
RUN node -e "require('@tensorflow/tfjs-node')" \
 && mkdir -p data/artifacts data/datasets && chown -R node:node data

ENV NODE_ENV=production \
    TRAINYARD_BACKEND=tensorflow \
    WORKER_DEVICE=cpu
# Same unprivileged uid (1000) as the API image: both write the shared /app/data volume.
USER node
CMD ["node", "--import", "tsx", "workers/training-worker.ts"]
