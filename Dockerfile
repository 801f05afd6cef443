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

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

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
RUN npm ci --omit=dev && npm cache clean --force

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
