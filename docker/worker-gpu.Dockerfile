# syntax=docker/dockerfile:1
# Trainyard GPU training worker: BullMQ worker + trainer child process on @tensorflow/tfjs-node-gpu.
# Build from the repository root:  docker build -f docker/worker-gpu.Dockerfile -t trainyard-worker-gpu .
# Run with an NVIDIA driver and the NVIDIA Container Toolkit on the host (docker run --gpus all ...).
# See docker/README.md for the driver requirement and where the versions below come from.
#
# tfjs-node-gpu 4.22.0 downloads libtensorflow 2.9.1 (scripts/deps-constants.js of the published
# package), which is built against CUDA 11.2 and cuDNN 8.1 (the tfjs-node README's GPU table). The
# base is NVIDIA's CUDA 11.2 runtime image with cuDNN 8 (8.1.1 in the 11.2.2 tags). linux/amd64 only.
ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

# ---- base: CUDA runtime + Node from the official nodejs.org tarball ---------------------------------
FROM ${CUDA_IMAGE} AS base
# Same Node as the other Trainyard images (node:20.20.2-bookworm-slim).
ARG NODE_VERSION=22.23.3
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
# The CUDA apt repository is dropped before apt-get update: nothing is installed from it (CUDA and
# cuDNN are already in the image), and old CUDA images can carry its pre-2022 signing key, which makes
# `apt-get update` fail (NO_PUBKEY A4B469963BF863CC). The tarball is checked against the release's
# SHASUMS256.txt. Ubuntu 20.04's glibc 2.31 meets Node 22's minimum (2.28).
RUN rm -f /etc/apt/sources.list.d/cuda*.list /etc/apt/sources.list.d/nvidia-ml*.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils libvulkan1 \
 && curl -fsSLO "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
 && curl -fsSLO "https://nodejs.org/dist/v${NODE_VERSION}/SHASUMS256.txt" \
 && grep " node-v${NODE_VERSION}-linux-x64.tar.xz\$" SHASUMS256.txt | sha256sum -c - \
 && tar -xJf "node-v${NODE_VERSION}-linux-x64.tar.xz" -C /usr/local --strip-components=1 --no-same-owner \
 && rm "node-v${NODE_VERSION}-linux-x64.tar.xz" SHASUMS256.txt \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version

# ---- build: install the lockfile's tree and tfjs-node-gpu's native part -----------------------------
FROM base AS build
# Compilers for node-pre-gyp's fallback (building the addon when no prebuilt one downloads). Built
# here, on the same Ubuntu 20.04 as the runtime stage, so the addon links against its glibc/libstdc++.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
# As in worker-cpu.Dockerfile, with the packages swapped: tfjs-node (CPU) is removed and only
# tfjs-node-gpu's install script runs (`node scripts/install.js gpu download`: libtensorflow 2.9.1
# GPU, then the addon). The library is not loaded here: no GPU driver is present at build time.
RUN npm ci --include=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@tensorflow/tfjs-node \
 && npm rebuild --foreground-scripts @tensorflow/tfjs-node-gpu \
 && node scripts/prisma-generate.mjs \
 && ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node \
       node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so.2.9.1

# ---- runtime ----------------------------------------------------------------------------------------
FROM base
WORKDIR /app
COPY --from=build /app /app
COPY src ./src
COPY workers ./workers
COPY bin ./bin
COPY openapi ./openapi
COPY examples ./examples
RUN mkdir -p data/artifacts data/datasets && chown -R node:node data

# TRAINYARD_BACKEND=auto: tfjs-node-gpu first; where CUDA 11.2 cannot run (newer GPUs or drivers),
# WebGPU through Dawn's Vulkan backend on the same GPU (libvulkan1 above; the driver's Vulkan ICD
# comes in through the `graphics` capability). WORKER_DEVICE=auto: a worker that found no GPU
# serves CPU jobs rather than taking GPU jobs it would train on the CPU; its start-up log says so.
# NVIDIA_*: read by the NVIDIA Container Toolkit. TF_FORCE_GPU_ALLOW_GROWTH: libtensorflow otherwise
# reserves almost all GPU memory up front, so a second trainer process on the GPU would fail to start.
ENV NODE_ENV=production \
    TRAINYARD_BACKEND=auto \
    WEBGPU_BACKEND=vulkan \
    WORKER_DEVICE=auto \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    TF_FORCE_GPU_ALLOW_GROWTH=true
USER node
CMD ["node", "--import", "tsx", "workers/training-worker.ts"]
