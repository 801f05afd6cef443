#!/usr/bin/env bash
# The quickstart's main job: local cluster up (or the cluster $KUBECONFIG
# names, with YMERA_USE_EXISTING_CLUSTER=1), CRDs installed, samples applied,
# then the operator in the foreground. Ctrl-C stops the operator; the cluster
# keeps running (make cluster-down stops it).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
stack="$repo/test/e2e/stack.sh"
"$stack" up
eval "$("$stack" env)"
echo "run-demo: installing CRDs" >&2
kubectl apply --server-side --force-conflicts --field-manager=ymera-demo -f crds/ >&2
kubectl wait --for=condition=Established --timeout=60s -f crds/ >&2
for ns in ymera-system ymera-demo; do
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >&2
done
if [[ -z "${YMERA_USE_EXISTING_CLUSTER:-}" ]]; then
  # the local cluster has no volume provisioner and nobody publishing drift events yet
  echo "run-demo: artifacts volume and drift topic for the LearningPipeline sample" >&2
  kubectl apply -f config/demo/local-cluster.yaml >&2
  "$repo/test/e2e/stack/kafka.sh" topics --create --if-not-exists --topic ymera-demo.fraud-detector-drift \
    --partitions 1 --replication-factor 1 >&2
fi
echo "run-demo: applying config/samples/" >&2
kubectl apply -f config/samples/ >&2
cat >&2 <<MSG

run-demo: the operator starts now. In another shell:
  eval "\$($stack env)"
  kubectl get ymera -A
  kubectl describe infsvc -n ymera-demo
  kubectl describe lpipe -n ymera-demo
  kubectl get events -n ymera-demo --sort-by=.lastTimestamp

MSG
exec node --disable-warning=ExperimentalWarning operator/main.ts --lease-namespace=ymera-system "$@"
