#!/usr/bin/env bash
# The whole local stack the demo and the e2e tests use: the pod bridge, the
# Kubernetes cluster (kwok), a real node (real-node-1) holding the project's
# image built from this checkout (stack/image.sh) and the e2e trainer's image
# (stack/trainer-image.sh), a Kafka broker,
# Prometheus and an S3 server (MinIO).
#   stack.sh up|down|status|env
# With YMERA_USE_EXISTING_CLUSTER=1 the cluster step only checks $KUBECONFIG;
# Kafka, Prometheus and S3 still run locally unless their YMERA_* endpoint
# variables are already set (then they are used as given); the real node is
# left out (it joins only our own cluster), as with YMERA_REAL_NODE_DISABLED=1,
# and the image steps with it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
# the bridge first: the servers after it listen on its address too
components=(stack/bridge.sh cluster/cluster.sh stack/node.sh stack/image.sh stack/trainer-image.sh stack/kafka.sh stack/prometheus.sh stack/minio.sh)

external() { # is this component provided from outside (or not part of this checkout)?
  [[ -f "$here/$1" ]] || return 0
  case "$1" in
    stack/kafka.sh) [[ -n "${YMERA_KAFKA_BROKERS:-}" ]] ;;
    stack/prometheus.sh) [[ -n "${YMERA_PROMETHEUS_URL:-}" ]] ;;
    stack/minio.sh) [[ -n "${YMERA_S3_ENDPOINT:-}" ]] ;;
    stack/node.sh | stack/image.sh | stack/trainer-image.sh) [[ "${YMERA_USE_EXISTING_CLUSTER:-}" == 1 || "${YMERA_REAL_NODE_DISABLED:-}" == 1 ]] ;;
    *) return 1 ;;
  esac
}

case "$cmd" in
  up)
    for c in "${components[@]}"; do external "$c" || bash "$here/$c" up; done
    ;;
  down)
    # reverse order; a failure to stop one must not keep the others running
    rc=0
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do
      c="${components[$i]}"
      external "$c" || bash "$here/$c" down || rc=1
    done
    exit "$rc"
    ;;
  status)
    rc=0
    for c in "${components[@]}"; do external "$c" || bash "$here/$c" status || rc=1; done
    exit "$rc"
    ;;
  env)
    for c in "${components[@]}"; do external "$c" || bash "$here/$c" env; done
    ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
