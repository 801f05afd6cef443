#!/usr/bin/env bash
# Smoke test of the local cluster (run after `cluster.sh up`, or against any
# cluster the current KUBECONFIG points at): scheduling onto GPU/CPU nodes, pods
# Running, Job completion, the simulate annotations, garbage collection.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${YMERA_USE_EXISTING_CLUSTER:-}" != 1 ]]; then
  eval "$("$here/cluster.sh" env)"
fi
ns="ymera-smoke"
T=60s
step() { printf '[smoke] %s\n' "$*" >&2; }
fail() { printf '[smoke] FAIL: %s\n' "$*" >&2; kubectl -n "$ns" get all,events -o wide >&2 || true; exit 1; }

kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
# pods need the namespace's default ServiceAccount (made by kube-controller-manager)
for _ in $(seq 1 100); do kubectl -n "$ns" get sa default >/dev/null 2>&1 && break; sleep 0.2; done

step "GPU Deployment (toleration + nodeSelector, nvidia.com/gpu: 1) lands on a GPU node"
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu}
spec:
  replicas: 2
  selector: {matchLabels: {app: gpu}}
  template:
    metadata: {labels: {app: gpu}}
    spec:
      nodeSelector: {nvidia.com/gpu.present: "true"}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: main
        image: example.invalid/gpu:1
        resources: {limits: {nvidia.com/gpu: 1}, requests: {nvidia.com/gpu: 1, cpu: 100m}}
EOF
kubectl -n "$ns" rollout status deploy/gpu --timeout=$T >/dev/null || fail "gpu deployment not available"
nodes="$(kubectl -n "$ns" get pods -l app=gpu -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.phase}{"\n"}{end}')"
grep -qv '^gpu-node-[12] Running$' <<<"$nodes" && fail "gpu pods not Running on GPU nodes: $nodes"

step "plain pod lands on a CPU node and becomes Ready"
kubectl -n "$ns" run plain --image=example.invalid/plain:1 --restart=Never >/dev/null
kubectl -n "$ns" wait pod/plain --for=condition=Ready --timeout=$T >/dev/null || fail "plain pod not Ready"
node="$(kubectl -n "$ns" get pod plain -o jsonpath='{.spec.nodeName}')"
[[ "$node" == cpu-node-* ]] || fail "plain pod on $node"

step "Job completes"
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: ok}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: example.invalid/job:1}]
EOF
kubectl -n "$ns" wait job/ok --for=condition=Complete --timeout=$T >/dev/null || fail "job ok did not complete"

step "Job whose pod has ymera.io/simulate=fail fails (exit 1)"
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 0
  template:
    metadata: {annotations: {ymera.io/simulate: fail}}
    spec:
      restartPolicy: Never
      containers: [{name: main, image: example.invalid/job:1}]
EOF
kubectl -n "$ns" wait job/bad --for=condition=Failed --timeout=$T >/dev/null || fail "job bad did not fail"
got="$(kubectl -n "$ns" get pods -l job-name=bad -o jsonpath='{.items[0].status.phase} {.items[0].status.containerStatuses[0].state.terminated.exitCode}')"
[[ "$got" == "Failed 1" ]] || fail "failed job pod: $got"

step "pod with ymera.io/simulate=crashloop shows CrashLoopBackOff with restarts"
kubectl -n "$ns" run crash --image=example.invalid/crash:1 --annotations=ymera.io/simulate=crashloop >/dev/null
kubectl -n "$ns" wait pod/crash --timeout=$T \
  --for=jsonpath='{.status.containerStatuses[0].state.waiting.reason}'=CrashLoopBackOff >/dev/null ||
  fail "crash pod not in CrashLoopBackOff"
got="$(kubectl -n "$ns" get pod crash -o jsonpath='{.status.phase} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode}')"
[[ "$got" =~ ^Running\ [1-9][0-9]*\ 1$ ]] || fail "crash pod: $got"

step "deleting the Deployment garbage-collects its ReplicaSet and pods"
kubectl -n "$ns" delete deploy/gpu --wait=false >/dev/null
gone() { [[ -z "$(kubectl -n "$ns" get rs,pods -l app=gpu -o name 2>/dev/null)" ]]; }
for _ in $(seq 1 120); do gone && break; sleep 0.5; done
gone || fail "ReplicaSet/pods of the deleted Deployment are still there"

kubectl delete namespace "$ns" --wait=false >/dev/null
step "all checks passed"
