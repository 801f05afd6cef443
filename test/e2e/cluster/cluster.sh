#!/usr/bin/env bash
# Local Kubernetes cluster for the ymera e2e tests and the demo.
#
#   cluster.sh up      create (or repair) the cluster; idempotent, fast when it is up
#   cluster.sh down    delete the cluster; idempotent
#   cluster.sh status  print whether it is up; exit 0 if up, 1 otherwise
#   cluster.sh env     print `export KUBECONFIG=...` and `export PATH=...` (eval it)
#   cluster.sh stop-component <etcd|kube-apiserver> [grace seconds]
#                      chaos (bench/chaos-outages.ts): stop one process of the
#                      running cluster (SIGTERM, SIGKILL after the grace, default
#                      5 s); nothing else changes
#   cluster.sh restart start the stopped components of the existing cluster again
#                      (kwokctl start cluster, as `up` does for an unhealthy
#                      cluster); never creates or deletes it; exit 1 if it does
#                      not come back
#
# The cluster is a kwokctl "binary runtime" cluster named ymera: real etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler (built from source by
# build-binaries.sh, no download) plus the kwok controller, which fakes the
# kubelets of four nodes (nodes/nodes.yaml) following the Stage resources in
# stages/stages.yaml. Everything listens on 127.0.0.1 only.
#
# Environment:
#   YMERA_STATE_DIR            where the kubeconfig goes (default <repo>/.tmp)
#   YMERA_APISERVER_PORT       apiserver port (default 6443; a random free port
#                              >10000 is used if it is taken by something else)
#   YMERA_USE_EXISTING_CLUSTER=1  do not create anything: `up`/`status` only check
#                              that $KUBECONFIG reaches a cluster with a Ready GPU
#                              node and a Ready non-GPU node; `down` does nothing.
#   YMERA_CACHE                binary cache (default ~/.cache/ymera)
#   KWOK_WORKDIR               kwokctl state (default ~/.kwok; the cluster lives in
#                              $KWOK_WORKDIR/clusters/ymera)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=../stack/close-fds.sh
source "$here/../stack/close-fds.sh"

NAME="ymera"
STATE_DIR="${YMERA_STATE_DIR:-$repo/.tmp}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
KUBECONFIG_OUT="$STATE_DIR/kubeconfig"
CACHE="${YMERA_CACHE:-$HOME/.cache/ymera}"
BIN_DIR="$CACHE/bin/current"
export KWOK_WORKDIR="${KWOK_WORKDIR:-$HOME/.kwok}"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
IN_HOST_KUBECONFIG="$CLUSTER_DIR/kubeconfig.yaml"
FINGERPRINT_FILE="$CLUSTER_DIR/ymera.fingerprint"
API_PORT="${YMERA_APISERVER_PORT:-6443}"
STAGES_FILE="$here/stages/stages.yaml"
NODES_FILE="$here/nodes/nodes.yaml"
SERVICE_CIDR_FILE="$here/nodes/servicecidr.yaml"
# pid file names kwokctl writes under $CLUSTER_DIR/pids (one per component)
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller)
NODES=(gpu-node-1 gpu-node-2 cpu-node-1 cpu-node-2)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# kubectl against the cluster, using kwokctl's own kubeconfig (cert file paths)
kc() { kubectl --kubeconfig "$IN_HOST_KUBECONFIG" --request-timeout=10s "$@"; }

api_ready() {
  [[ -f "$IN_HOST_KUBECONFIG" ]] || return 1
  [[ "$(kc get --raw /readyz 2>/dev/null)" == "ok" ]]
}

# wait_for <seconds> <description> <command...>
wait_for() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ((SECONDS >= deadline)); then log "timed out after ${timeout}s waiting for $what"; return 1; fi
    sleep 0.5
  done
}

# --- process bookkeeping -----------------------------------------------------

# alive <pid>: the process exists and is not a zombie
alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

gone() { ! alive "$1"; }

# component_alive <name>: its pid file names a live process running that binary
component_alive() {
  local name="$1" pidfile="$CLUSTER_DIR/pids/$1.pid" pid exe want
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null)" || return 1
  alive "$pid" || return 1
  exe="$(readlink -f "/proc/$pid/exe" 2>/dev/null)" || return 1
  want="$(readlink -f "$CLUSTER_DIR/bin/$name" 2>/dev/null)" || return 1
  [[ "$exe" == "$want" ]]
}

# pids of live processes that belong to this cluster, whatever the pid files
# say: a component binary from the cache whose command line names the cluster
# directory (kubectl is left out: that is us or a user)
cluster_pids() {
  local p cmd exe
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    exe="$(readlink -f "/proc/$p/exe" 2>/dev/null)" || continue
    [[ "$exe" == "$CACHE/bin/"* && "$exe" != */kubectl ]] || continue
    cmd="$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" || continue
    [[ "$cmd" == *"$CLUSTER_DIR/"* ]] || continue
    if alive "$p"; then echo "$p"; fi
  done
  return 0
}

# kill_leftovers: stop (by pid) every process of this cluster that is still alive
kill_leftovers() {
  local pids
  pids="$(cluster_pids)"
  [[ -z "$pids" ]] && return 0
  log "stopping leftover processes of cluster $NAME: ${pids//$'\n'/ }"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  local deadline=$((SECONDS + 10)) p left
  while ((SECONDS < deadline)); do
    left=""
    for p in $pids; do alive "$p" && left+=" $p"; done
    [[ -z "$left" ]] && return 0
    sleep 0.2
  done
  # shellcheck disable=SC2086
  kill -KILL $left 2>/dev/null || true
  sleep 0.5
}

# remove pid files that point at dead, zombie or unrelated (pid reuse) processes,
# so that `kwokctl start cluster` restarts those components
clean_stale_pids() {
  local c
  for c in "${COMPONENTS[@]}"; do
    if [[ -f "$CLUSTER_DIR/pids/$c.pid" ]] && ! component_alive "$c"; then
      log "stale pid file for $c"
      rm -f "$CLUSTER_DIR/pids/$c.pid"
    fi
  done
}

all_components_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do component_alive "$c" || return 1; done
}

cluster_exists() { [[ -f "$CLUSTER_DIR/kwok.yaml" ]]; }

healthy() { cluster_exists && all_components_alive && api_ready; }

port_free() {
  # true when nothing listens on 127.0.0.1:<port> (or on the wildcard address)
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- configuration -------------------------------------------------------------

# write_config <file> <apiserver port>
write_config() {
  local f="$1" port="$2" b
  b="$(readlink -f "$BIN_DIR/kube-apiserver")"; b="$(dirname "$b")"
  local etcd kwok
  etcd="$(dirname "$(readlink -f "$BIN_DIR/etcd")")"
  kwok="$(dirname "$(readlink -f "$BIN_DIR/kwok")")"
  cat >"$f" <<EOF
# generated by test/e2e/cluster/cluster.sh; do not edit
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: v$K8S_VERSION
  etcdVersion: $ETCD_VERSION
  kwokVersion: v$KWOK_VERSION
  bindAddress: 127.0.0.1
  kubeApiserverPort: $port
  quietPull: true
  kubeApiserverBinary: $b/kube-apiserver
  kubeControllerManagerBinary: $b/kube-controller-manager
  kubeSchedulerBinary: $b/kube-scheduler
  kubectlBinary: $b/kubectl
  etcdBinary: $etcd/etcd
  kwokControllerBinary: $kwok/kwok
  # not built: point at local paths so that kwokctl never downloads them
  # (only \`kwokctl etcdctl\`/\`snapshot\` would need them)
  etcdctlBinary: $etcd/etcdctl
  etcdutlBinary: $etcd/etcdutl
  kectlBinary: $kwok/kectl
  cacheDir: $KWOK_WORKDIR/cache
  enableCRDs:
  - Stage
  # kwok holds a Lease per node and only drives the nodes whose Lease it holds;
  # a restarted kwok-controller (new identity) must wait for the old Leases to
  # expire, so keep them short (default 40s x heartbeatFactor 5 = 200s)
  heartbeatFactor: 1
  nodeLeaseDurationSeconds: 10
  # pods of the real node (stack/node.sh) reach the API server on the pod
  # bridge's address, so its serving certificate must name it
  # and in-cluster clients reach it at the \`kubernetes\` Service's ClusterIP, the
  # first address of the API server's default service range 10.0.0.0/24
  kubeApiserverCertSANs:
  - ${YMERA_BRIDGE_ADDRESS:-10.250.0.1}
  - 10.0.0.1
componentsPatches:
# kwok fakes only the nodes annotated as fake (nodes/nodes.yaml); a real
# kubelet's node (real-node-1) is left to that kubelet
- name: kwok-controller
  extraArgs:
  - key: manage-all-nodes
    value: "false"
  - key: manage-nodes-with-annotation-selector
    value: kwok.x-k8s.io/node=fake
# single instances: without leader election a restarted scheduler/controller
# manager works at once instead of waiting for the old lease to expire
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
- name: kube-controller-manager
  extraArgs:
  - key: leader-elect
    value: "false"
# the \`kubernetes\` Service's endpoint: where pods of the real node find the
# API server (stack/node.sh forwards that address to 127.0.0.1)
- name: kube-apiserver
  extraArgs:
  - key: advertise-address
    value: ${YMERA_BRIDGE_ADDRESS:-10.250.0.1}
EOF
}

# the kwokctl config, the binaries, and the nodes (their capacity is only taken
# when they are created, so a change to nodes.yaml needs a new cluster)
fingerprint() {
  local f="$1"
  { cat "$f"; readlink -f "$BIN_DIR/kwokctl"; cat "$NODES_FILE"; } | sha256sum | cut -c1-16
}

# --- cluster lifecycle ---------------------------------------------------------

delete_cluster() {
  if [[ -d "$CLUSTER_DIR" ]]; then
    log "deleting cluster $NAME"
    # never let kwokctl kill a pid that was reused by an unrelated process
    clean_stale_pids
    if command -v kwokctl >/dev/null 2>&1 && cluster_exists; then
      # (--kubeconfig: the file it removes its context from; "" is refused)
      kwokctl delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_OUT" >"$STATE_DIR/kwokctl-delete.log" 2>&1 9>&- ||
        log "kwokctl delete cluster failed (see $STATE_DIR/kwokctl-delete.log); cleaning up by hand"
    fi
  fi
  kill_leftovers
  rm -rf "$CLUSTER_DIR"
}

create_cluster() {
  local cfg="$STATE_DIR/kwokctl-config.yaml" port="$API_PORT"
  if ! port_free "$port"; then
    log "127.0.0.1:$port is in use by another program; letting kwokctl pick a free port"
    port=0
  fi
  write_config "$cfg" "$port"
  log "creating cluster $NAME (kwokctl binary runtime, Kubernetes v$K8S_VERSION)"
  # every binary is a local path, so kwokctl downloads nothing
  # close_fds: the cluster processes must inherit no lock, neither ours (see
  # lock()) nor the e2e lock of whoever ran us under flock(1)
  if ! (close_fds; exec kwokctl --config "$cfg" create cluster --name "$NAME" --kubeconfig "" --timeout 5m) \
    >"$STATE_DIR/kwokctl-create.log" 2>&1; then
    tail -n 30 "$STATE_DIR/kwokctl-create.log" >&2 || true
    dump_component_logs
    return 1
  fi
  echo "$1" >"$FINGERPRINT_FILE"
}

dump_component_logs() {
  local c
  for c in "${COMPONENTS[@]}"; do
    [[ -f "$CLUSTER_DIR/logs/$c.log" ]] || continue
    log "--- last lines of $CLUSTER_DIR/logs/$c.log"
    tail -n 15 "$CLUSTER_DIR/logs/$c.log" >&2 || true
  done
}

restart_cluster() {
  clean_stale_pids
  # processes of this cluster that no pid file tracks any more would clash with
  # the ones kwokctl is about to start (same ports, same etcd data)
  local p tracked="" orphans=""
  for p in "$CLUSTER_DIR"/pids/*.pid; do [[ -f "$p" ]] && tracked+=" $(cat "$p") "; done
  for p in $(cluster_pids); do [[ "$tracked" == *" $p "* ]] || orphans+=" $p"; done
  if [[ -n "$orphans" ]]; then
    log "stopping untracked processes of cluster $NAME:$orphans"
    # shellcheck disable=SC2086
    kill -KILL $orphans 2>/dev/null || true
    sleep 0.5
  fi
  log "restarting the stopped components of cluster $NAME"
  # kwokctl waits up to its --timeout for the apiserver even when etcd died at
  # once (e.g. corrupt data), so watch the processes ourselves and give up early:
  # when etcd or kube-apiserver exits after it was seen running, when etcd is
  # not running after 20 s, or 15 s after kwokctl gave up. Not on a fixed "both
  # run after 5 s": on a loaded machine kwokctl may not have started the
  # apiserver yet, and a restart killed halfway is what breaks the cluster.
  (close_fds; exec kwokctl start cluster --name "$NAME" --timeout 90s) >"$STATE_DIR/kwokctl-start.log" 2>&1 &
  local kpid=$! t0=$SECONDS ok=1 c seen="" kwokctl_done=""
  while ((SECONDS - t0 < 90)); do
    if api_ready && all_components_alive; then ok=0; break; fi
    for c in etcd kube-apiserver; do
      if component_alive "$c"; then
        [[ "$seen" == *" $c "* ]] || seen+=" $c "
      elif [[ "$seen" == *" $c "* ]]; then
        log "$c exited after the restart"
        break 2
      fi
    done
    if ((SECONDS - t0 >= 20)) && [[ "$seen" != *" etcd "* ]]; then
      log "etcd did not start within 20 s of the restart"
      break
    fi
    if [[ -z "$kwokctl_done" ]] && ! kill -0 "$kpid" 2>/dev/null; then kwokctl_done=$SECONDS; fi
    if [[ -n "$kwokctl_done" ]] && ((SECONDS - kwokctl_done >= 15)); then
      log "kwokctl start exited and the cluster is not ready 15 s later"
      break
    fi
    sleep 0.5
  done
  if kill -0 "$kpid" 2>/dev/null; then kill "$kpid" 2>/dev/null || true; fi
  wait "$kpid" 2>/dev/null || true
  return "$ok"
}

nodes_ready() {
  local n out
  out="$(kc get nodes "${NODES[@]}" -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null)" || return 1
  for n in "${NODES[@]}"; do grep -qx "$n=True" <<<"$out" || return 1; done
}

# the running kwok-controller holds the Leases of all our nodes: each renewed
# after that process started and after $LEASE_CHECK_SINCE (so we saw it renew
# them: it is not hung). A restarted kwok-controller has a new identity and must
# wait for the old Leases to expire; until then it leaves the nodes alone.
LEASE_CHECK_SINCE=0
leases_held() {
  local rows now started holder renew n=0
  started="$(stat -c %.9Y "$CLUSTER_DIR/pids/kwok-controller.pid" 2>/dev/null)" || return 1
  started="${started/./}"
  ((started > LEASE_CHECK_SINCE)) || started="$LEASE_CHECK_SINCE"
  rows="$(kc -n kube-node-lease get leases "${NODES[@]}" -o jsonpath='{range .items[*]}{.spec.holderIdentity} {.spec.renewTime}{"\n"}{end}' 2>/dev/null)" || return 1
  now="$(date +%s%N)"
  while read -r holder renew; do
    [[ -n "$holder" && -n "$renew" ]] || return 1
    renew="$(date -d "$renew" +%s%N)" || return 1
    ((renew >= started && now - renew <= 6000000000)) || return 1
    n=$((n + 1))
  done <<<"$rows"
  ((n == ${#NODES[@]}))
}

default_sa_exists() { kc -n default get serviceaccount default >/dev/null 2>&1; }

stages_crd_ready() {
  kc wait --for=condition=Established crd/stages.kwok.x-k8s.io --timeout=5s >/dev/null 2>&1
}

apply_stages() {
  wait_for 60 "the Stage CRD" stages_crd_ready || return 1
  kc apply -f "$STAGES_FILE" >/dev/null
  # drop stages that are no longer in the file
  local want have s
  want="$(awk '/^kind: Stage/{s=1} s&&/^  name:/{print $2; s=0}' "$STAGES_FILE")"
  have="$(kc get stages.kwok.x-k8s.io -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')"
  for s in $have; do
    grep -qx "$s" <<<"$want" || kc delete stages.kwok.x-k8s.io "$s" >/dev/null
  done
}

write_kubeconfig() {
  local tmp="$KUBECONFIG_OUT.tmp.$$"
  kubectl --kubeconfig "$IN_HOST_KUBECONFIG" config view --flatten --minify >"$tmp" || return 1
  chmod 600 "$tmp"
  mv "$tmp" "$KUBECONFIG_OUT"
}

setup_cluster() {
  LEASE_CHECK_SINCE="$(date +%s%N)"
  wait_for 120 "the apiserver" api_ready || return 1
  apply_stages || return 1
  kc apply -f "$NODES_FILE" >/dev/null || return 1
  kc apply -f "$SERVICE_CIDR_FILE" >/dev/null || return 1
  wait_for 90 "nodes Ready" nodes_ready || return 1
  wait_for 30 "kwok to renew the node Leases" leases_held || return 1
  # the default ServiceAccount is made by kube-controller-manager: pods can be
  # created once it exists
  wait_for 90 "the default ServiceAccount" default_sa_exists || return 1
  write_kubeconfig
}

create_fresh() {
  kill_leftovers
  if ! create_cluster "$1"; then
    log "creating the cluster failed; retrying once from scratch"
    delete_cluster
    create_cluster "$1" || { delete_cluster; die "could not create the cluster (logs in $STATE_DIR)"; }
  fi
}

# --- existing cluster ------------------------------------------------------------

check_existing() {
  [[ -n "${KUBECONFIG:-}" ]] || die "YMERA_USE_EXISTING_CLUSTER=1 needs KUBECONFIG"
  if ! command -v kubectl >/dev/null 2>&1 && [[ -x "$BIN_DIR/kubectl" ]]; then PATH="$BIN_DIR:$PATH"; fi
  command -v kubectl >/dev/null 2>&1 || die "kubectl not found"
  kubectl --request-timeout=10s get --raw /readyz >/dev/null 2>&1 ||
    { log "the cluster of KUBECONFIG=$KUBECONFIG is not reachable"; return 1; }
  local rows gpu=0 cpu=0 name ready present
  rows="$(kubectl --request-timeout=10s get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.metadata.labels.nvidia\.com/gpu\.present}{"\n"}{end}')"
  while read -r name ready present; do
    [[ -n "$name" && "$ready" == True ]] || continue
    if [[ "$present" == true ]]; then gpu=$((gpu + 1)); else cpu=$((cpu + 1)); fi
  done <<<"$rows"
  log "existing cluster: $gpu Ready node(s) labelled nvidia.com/gpu.present=true, $cpu other Ready node(s)"
  ((gpu > 0)) || { log "no Ready node labelled nvidia.com/gpu.present=true"; return 1; }
  ((cpu > 0)) || { log "no Ready node without the GPU label"; return 1; }
}

# --- commands --------------------------------------------------------------------

cmd_up() {
  if [[ "${YMERA_USE_EXISTING_CLUSTER:-}" == 1 ]]; then
    check_existing
    return
  fi
  local start=$SECONDS bin
  mkdir -p "$STATE_DIR"
  bin="$("$here/build-binaries.sh")"
  [[ "$bin" == "$BIN_DIR" ]] || BIN_DIR="$bin"
  export PATH="$BIN_DIR:$PATH"

  local cfg="$STATE_DIR/kwokctl-config.yaml.want" fp
  write_config "$cfg" "$API_PORT"
  fp="$(fingerprint "$cfg")"
  rm -f "$cfg"

  if cluster_exists && [[ "$(cat "$FINGERPRINT_FILE" 2>/dev/null)" != "$fp" ]]; then
    log "cluster $NAME was made with other binaries or settings; recreating it"
    delete_cluster
  elif cluster_exists && ! healthy; then
    if ! restart_cluster; then
      log "cluster $NAME could not be restarted; recreating it"
      dump_component_logs
      delete_cluster
    fi
  elif ! cluster_exists && [[ -d "$CLUSTER_DIR" ]]; then
    delete_cluster # half-created leftovers
  fi

  local fresh=0
  if ! cluster_exists; then
    fresh=1
    create_fresh "$fp"
  fi

  if ! setup_cluster; then
    dump_component_logs
    ((fresh)) && die "cluster $NAME did not become ready"
    log "cluster $NAME does not work; recreating it"
    delete_cluster
    create_fresh "$fp"
    setup_cluster || { dump_component_logs; die "cluster $NAME did not become ready"; }
  fi
  log "cluster $NAME is up in $((SECONDS - start))s: $(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  log "use it with: eval \"\$($here/cluster.sh env)\""
}

cmd_down() {
  if [[ "${YMERA_USE_EXISTING_CLUSTER:-}" == 1 ]]; then
    log "YMERA_USE_EXISTING_CLUSTER=1: leaving the existing cluster alone"
    return 0
  fi
  mkdir -p "$STATE_DIR"
  if [[ -d "$BIN_DIR" ]]; then export PATH="$BIN_DIR:$PATH"; fi
  delete_cluster
  rm -f "$KUBECONFIG_OUT"
  log "cluster $NAME is down"
}

cmd_status() {
  if [[ "${YMERA_USE_EXISTING_CLUSTER:-}" == 1 ]]; then
    if check_existing; then echo "up (existing cluster, KUBECONFIG=$KUBECONFIG)"; return 0; fi
    echo "down (existing cluster, KUBECONFIG=${KUBECONFIG:-})"
    return 1
  fi
  if [[ -d "$BIN_DIR" ]]; then export PATH="$BIN_DIR:$PATH"; fi
  if ! command -v kubectl >/dev/null 2>&1 || ! cluster_exists; then
    echo "down"
    return 1
  fi
  local c missing=()
  for c in "${COMPONENTS[@]}"; do component_alive "$c" || missing+=("$c"); done
  if ((${#missing[@]})) || ! api_ready; then
    echo "down (cluster $NAME exists but is not healthy; not running: ${missing[*]:-none}; run: $here/cluster.sh up)"
    return 1
  fi
  local server
  server="$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  echo "up ($server, kubeconfig $KUBECONFIG_OUT)"
  kc get nodes --no-headers 2>/dev/null | awk '{printf "  %-12s %s\n", $1, $2}'
}

# stop_component <name> <grace s>: the chaos bench's restart fault (a real
# process restart, `restart` brings it back). SIGKILL after a short grace:
# kube-apiserver took over 30 s to drain on SIGTERM, and while it lives
# `kwokctl start cluster` does not start a new one.
cmd_stop_component() {
  local name="${1:-}" grace="${2:-5}" pid deadline
  case "$name" in
    etcd | kube-apiserver) ;;
    *) die "stop-component: component must be etcd or kube-apiserver (got \"$name\")" ;;
  esac
  [[ "$grace" =~ ^[0-9]+$ ]] || die "stop-component: grace must be whole seconds (got \"$grace\")"
  cluster_exists || die "cluster $NAME does not exist"
  component_alive "$name" || die "$name of cluster $NAME is not running"
  pid="$(cat "$CLUSTER_DIR/pids/$name.pid")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  # re-checked: the pid must still be that component's binary, not a reused pid
  if alive "$pid" && component_alive "$name"; then
    log "$name still running after ${grace}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait_for 10 "$name (pid $pid) to exit" gone "$pid"
}

# restart: what `up` does for an existing unhealthy cluster, without its
# fallback (recreating the cluster)
cmd_restart() {
  cluster_exists || die "cluster $NAME does not exist (restart never creates one)"
  mkdir -p "$STATE_DIR"
  if [[ -d "$BIN_DIR" ]]; then export PATH="$BIN_DIR:$PATH"; fi
  if healthy; then return 0; fi
  if ! restart_cluster; then
    dump_component_logs
    die "the stopped components of cluster $NAME did not come back (see $STATE_DIR/kwokctl-start.log)"
  fi
  log "cluster $NAME is back"
}

# dq <string>: the string double-quoted for the shell (also what simple
# `export NAME="value"` parsers, like test/e2e/global-setup.ts, expect)
dq() {
  local v="$1"
  v="${v//\\/\\\\}"; v="${v//\"/\\\"}"; v="${v//\$/\\\$}"; v="${v//\`/\\\`}"
  printf '"%s"' "$v"
}

cmd_env() {
  if [[ "${YMERA_USE_EXISTING_CLUSTER:-}" == 1 ]]; then
    printf 'export KUBECONFIG=%s\n' "$(dq "${KUBECONFIG:-}")"
  else
    printf 'export KUBECONFIG=%s\n' "$(dq "$KUBECONFIG_OUT")"
  fi
  # the PATH line is `export PATH="<bin>:$PATH"`, $PATH left for the shell that evals it
  local bin
  bin="$(dq "$BIN_DIR")"
  # shellcheck disable=SC2016
  printf 'export PATH=%s:$PATH"\n' "${bin%\"}"
}

# serialize up/down (e.g. several test workers calling `up` at once). fd 9
# must be closed for kwokctl, or the cluster processes it forks would hold the
# lock for ever.
lock() {
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p "$KWOK_WORKDIR"
  exec 9>"$KWOK_WORKDIR/$NAME.lock"
  if ! flock -n 9; then
    log "waiting for another cluster.sh up/down to finish"
    flock 9
  fi
}

case "${1:-}" in
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  stop-component) lock; cmd_stop_component "${2:-}" "${3:-5}" ;;
  restart) lock; cmd_restart ;;
  *)
    echo "usage: $0 up|down|status|env|stop-component <etcd|kube-apiserver> [grace s]|restart" >&2
    exit 2
    ;;
esac
