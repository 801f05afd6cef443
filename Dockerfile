# syntax=docker/dockerfile:1
# ymera-operator image: Node.js 24 runs operator/main.ts directly (type
# stripping, no build step). Two stages: production dependencies are installed
# with the full Node image; the final image is distroless (no shell, no npm),
# runs as a numeric non-root user and only holds what the operator loads.
# The same image is the default inference runtime: InferenceService pods
# start it with the command `node runtime/server.ts` (operator/version.ts).
#
#   docker build -t ghcr.io/ymera/ymera-operator:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# GPU InferenceServices default to the CUDA build of the runtime (target
# runtime-cuda; operator/version.ts RUNTIME_CUDA_IMAGE):
#
#   docker build --target runtime-cuda -t ghcr.io/ymera/ymera-runtime-cuda:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# Without Docker, `make image` (scripts/build-image.sh) builds an equivalent of
# the default target as an OCI archive (Debian packages for the base, GNU tar
# and umoci); the CUDA target needs NVIDIA's base image and Docker.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot
# onnxruntime-node 1.30's CUDA provider is built for CUDA 12 and cuDNN 9.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# No dev dependencies; onnxruntime-node must not download its optional CUDA/
# provider binaries at install time.
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# onnxruntime-node ships binaries for every OS and CPU (~250 MB); keep this
# platform's (scripts/build-image.sh, the Docker-free build, does the same).
RUN npm ci --omit=dev && npm cache clean --force \
 && cd node_modules/onnxruntime-node/bin/napi-v6 \
 && find . -mindepth 2 -maxdepth 2 ! -path "./linux/$(node -p process.arch)" -exec rm -rf {} + \
 && find . -mindepth 1 -maxdepth 1 -type d -empty -delete

# The CUDA runtime: the same runtime code, onnxruntime-node with its CUDA 12
# provider libraries (fetched by its install script), on NVIDIA's CUDA + cuDNN
# base. Node sits at /nodejs/bin/node as in distroless, so the operator starts
# both images with the same command.
FROM ${NODE_IMAGE} AS deps-cuda
WORKDIR /app
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=cuda12 \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM ${CUDA_IMAGE} AS runtime-cuda
ARG CUDA_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ymera-runtime-cuda" \
      org.opencontainers.image.description="ymera inference runtime (Open Inference Protocol v2, onnxruntime) with the CUDA execution provider." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${CUDA_IMAGE}"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps-cuda /usr/local/bin/node /nodejs/bin/node
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY operator ./operator
COPY runtime ./runtime
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "--disable-warning=ExperimentalWarning", "runtime/server.ts"]

# The default target: the operator (and CPU runtime) image.
FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ymera-operator" \
      org.opencontainers.image.description="Kubernetes operator for a self-healing ML platform: serving, pipelines, predictive maintenance, tuning and backups." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
WORKDIR /app
ENV NODE_ENV=production
# Files stay owned by root and read-only for the runtime user.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY operator ./operator
COPY controllers ./controllers
COPY runtime ./runtime
# 65532 = distroless "nonroot"; numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081
# Flags (see charts/ymera-operator) are appended as the container's args.
ENTRYPOINT ["/nodejs/bin/node", "--disable-warning=ExperimentalWarning", "operator/main.ts"]
