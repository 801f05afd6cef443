#!/usr/bin/env bash
# A real Kubernetes node (real-node-1) in the local cluster, beside kwok's fake ones.
#
#   node.sh up      start (or repair) containerd, the API forwarder, kube-proxy and
#                   the kubelet, import the local images, wait until the node is
#                   Ready; idempotent
#   node.sh down    stop the kubelet, every pod container, containerd, kube-proxy
#                   (and its nftables tables) and the forwarder, clean their
#                   mounts, delete the Node object
#   node.sh status  print the state of each part; exit 0 if all are up and the node Ready
#   node.sh env     print `export YMERA_REAL_NODE=...` and friends (eval it)
#
# Everything is built from source by cluster/build-binaries.sh (kubelet and
# kube-proxy v$K8S_VERSION, containerd, its runc shim and ctr, runc with seccomp);
# CNI plugins, socat, umoci, busybox-static and nftables are Debian packages,
# installed when missing.
#
# - containerd: own root under $STATE_DIR/node/containerd, state and socket under
#   $YMERA_CONTAINERD_RUN (default /run/ymera/containerd). CRI images are in
#   namespace k8s.io; import one with
#     ctr --address /run/ymera/containerd/containerd.sock -n k8s.io images import \
#       --base-name docker.io/ymera/<name> <oci-archive.tar>
#   and run it with imagePullPolicy: Never (there is no registry).
# - the sandbox (pause) image is Kubernetes' own pause.c (from the k8s.io/kubernetes
#   module source) compiled statically, packed with umoci: $PAUSE_IMAGE.
#   A busybox image from Debian's busybox-static ($BUSYBOX_IMAGE) is imported too,
#   for tests that need a shell, wget or httpd in a pod.
# - CNI: the bridge plugin on the stack's bridge ($YMERA_BRIDGE, made by bridge.sh),
#   host-local IPAM from .10 of the bridge's /24, gateway the bridge address, no
#   masquerade, no default route: pods reach the host, each other and the
#   cluster's Service ranges (routed through the host), nothing leaves the machine.
# - the API server listens on 127.0.0.1 only but advertises the bridge address; a
#   socat forwarder on <bridge address>:6443 makes the `kubernetes` Service's
#   endpoint reachable from pods.
# - kube-proxy (nftables mode, its own `kube-proxy` tables, masquerading service
#   traffic) makes ClusterIPs work from pods and from the host, so in-cluster
#   clients work unchanged. It serves every Service, but only endpoints on this
#   node's pods are reachable (kwok's pod IPs are fiction). No cluster DNS.
# - the kubelet registers real-node-1 with node IP = the bridge address, label
#   ymera.io/node-pool=real and taint ymera.io/real-node=true:NoSchedule, so
#   only pods that ask for it land there (the kwok-based tests never do). Its
#   identity is a client certificate for system:node:real-node-1 (group
#   system:nodes) signed by the cluster CA, so the Node authorizer and
#   NodeRestriction apply to it. The API server has no kubelet client
#   certificate and dials the kubelet by the node's name, so node.sh maps
#   real-node-1 to 127.0.0.1 in /etc/hosts (removed by `down`) and the kubelet's
#   API (10250) listens on loopback only, unauthenticated: `kubectl logs/exec/
#   port-forward` work; pods cannot reach it, the host's processes can. The
#   containers' log files are also under $STATE_DIR/node/pods/.
# - the host has cgroup v1: failCgroupV1=false, cgroupfs driver, no QoS cgroups.
#
# Environment: YMERA_STATE_DIR, YMERA_CACHE, YMERA_BRIDGE, YMERA_BRIDGE_ADDRESS,
# YMERA_CONTAINERD_RUN, KWOK_WORKDIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster_dir="$(cd "$here/../cluster" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../cluster/versions.env
source "$cluster_dir/versions.env"

NODE_NAME=real-node-1
BRIDGE="${YMERA_BRIDGE:-ymera0}"
ADDRESS="${YMERA_BRIDGE_ADDRESS:-10.250.0.1}"
SUBNET="${ADDRESS%.*}.0/24"
# the API server's port (cluster.sh may pick another than 6443); set by cmd_up
API_PORT=6443
TAINT="ymera.io/real-node=true:NoSchedule"
LABELS="ymera.io/node-pool=real"
# pause.c's own version (build/pause/Makefile TAG) and the Debian busybox version
PAUSE_VERSION=3.10.2
PAUSE_IMAGE="docker.io/ymera/pause:$PAUSE_VERSION"
BUSYBOX_REPO="docker.io/ymera/busybox"

COMPONENT=node
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
CACHE="${YMERA_CACHE:-$HOME/.cache/ymera}"
BIN_DIR="$CACHE/bin/current"
NDIR="$STATE_DIR/node"
RUN_DIR="${YMERA_CONTAINERD_RUN:-/run/ymera/containerd}"
SOCKET="$RUN_DIR/containerd.sock"
CT_ROOT="$NDIR/containerd"
KUBELET_DIR="$NDIR/kubelet"
CNI_CONF_DIR="$NDIR/cni/net.d"
CNI_DATA_DIR="$NDIR/cni/ipam"
CNI_BIN_DIR=/usr/lib/cni
PKI_DIR="$NDIR/pki"
IMG_DIR="$NDIR/images"
KWOK_WORKDIR="${KWOK_WORKDIR:-$HOME/.kwok}"
CLUSTER_PKI="$KWOK_WORKDIR/clusters/ymera/pki"
ADMIN_KUBECONFIG="$KWOK_WORKDIR/clusters/ymera/kubeconfig.yaml"

# --- helpers -------------------------------------------------------------------

kc() { "$BIN_DIR/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=10s "$@"; }
# (without containerd's cgroup v1 deprecation warning on every call)
ctr_() { "$BIN_DIR/ctr" --address "$SOCKET" "$@" 2> >(grep -v 'support for cgroup v1 is deprecated' >&2); }
read_api_port() {
  local server
  server="$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null)" || return 1
  [[ "${server##*:}" =~ ^[0-9]+$ ]] || return 1
  API_PORT="${server##*:}"
}
api_up() { [[ -f "$ADMIN_KUBECONFIG" ]] && [[ "$(kc get --raw /readyz 2>/dev/null)" == ok ]]; }

# pid bookkeeping per part: containerd, kubelet, forwarder
pid_file() { echo "$NDIR/$1.pid"; }
log_file() { echo "$NDIR/$1.log"; }

cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }

# ours_<part> <pid>: a live process of that part of this node
ours_containerd() {
  alive "$1" || return 1
  [[ "$(readlink -f "/proc/$1/exe" 2>/dev/null)" == "$CACHE/bin/containerd-"*/containerd ]] || return 1
  [[ "$(cmdline "$1")" == *" --config $NDIR/containerd.toml "* ]]
}
ours_kubelet() {
  alive "$1" || return 1
  [[ "$(readlink -f "/proc/$1/exe" 2>/dev/null)" == "$CACHE/bin/node-"*/kubelet ]] || return 1
  [[ "$(cmdline "$1")" == *" --config=$NDIR/kubelet.yaml "* ]]
}
ours_kube_proxy() {
  alive "$1" || return 1
  [[ "$(readlink -f "/proc/$1/exe" 2>/dev/null)" == "$CACHE/bin/node-"*/kube-proxy ]] || return 1
  [[ "$(cmdline "$1")" == *" --config=$NDIR/kube-proxy.yaml "* ]]
}
ours_forwarder() {
  alive "$1" || return 1
  [[ "$(readlink -f "/proc/$1/exe" 2>/dev/null)" == */socat ]] || return 1
  [[ "$(cmdline "$1")" == "socat TCP-LISTEN:$API_PORT,bind=$ADDRESS,reuseaddr,fork TCP:127.0.0.1:$API_PORT " ]]
}
# the runc shims of our containerd (they outlive it on purpose)
ours_shim() {
  alive "$1" || return 1
  [[ "$(readlink -f "/proc/$1/exe" 2>/dev/null)" == "$CACHE/bin/containerd-"*/containerd-shim-runc-v2 ]] || return 1
  [[ "$(cmdline "$1")" == *" -address $SOCKET "* ]]
}

# pids_of <part>: every live process of the part, whatever its pid file says
pids_of() {
  local part="$1" p
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    if "ours_$part" "$p"; then echo "$p"; fi
  done
  return 0
}

tracked() { # tracked <part>: the pid in its pid file if that is still our process
  local pid
  pid="$(cat "$(pid_file "$1")" 2>/dev/null || true)"
  if "ours_$1" "$pid"; then echo "$pid"; fi
}

# stamp <files...>: what a part was started with (config, certificate, binary)
stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# start_part <part> <stamp> <ready check> <timeout> <command...>: (re)starts a part
# unless it runs with the same stamp and passes its check; adopts a running one
# that lost its pid file
start_part() {
  local part="$1" want="$2" check="$3" timeout="$4" pid
  shift 4
  PID_FILE="$(pid_file "$part")"
  LOG_FILE="$(log_file "$part")"
  pid="$(tracked "$part")"
  if [[ -z "$pid" ]]; then
    pid="$(pids_of "$part" | head -n 1)"
    if [[ -n "$pid" ]]; then echo "$pid" >"$PID_FILE"; fi
  fi
  if [[ -n "$pid" && "$(cat "$NDIR/$part.stamp" 2>/dev/null)" != "$want" ]]; then
    log "$part runs with an older configuration; restarting it"
  elif [[ -n "$pid" ]] && "$check"; then
    return 0
  fi
  stop_pids "$(pids_of "$part")" 15
  rotate_log "$LOG_FILE"
  log "starting ${part//_/-}"
  # setsid: not stopped by a Ctrl-C meant for the caller; close_fds: no lock of
  # the caller's (an e2e `flock`, our fd 9) outlives it in the daemon; no stdout
  (close_fds; exec setsid "$@" </dev/null >>"$LOG_FILE" 2>&1) &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$want" >"$NDIR/$part.stamp"
  wait_started "$pid" "$timeout" "$part" 30 "$check"
}

lock() {
  mkdir -p "$NDIR"
  exec 9>"$NDIR/.lock"
  flock -w 600 9 || die "another node.sh holds $NDIR/.lock"
}

# apt_install <package...>: the Debian packages the node needs (root), with one
# `apt-get update` retry for a stale package list
apt_install() {
  local missing=() p attempt
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  { ((EUID == 0)) && command -v apt-get >/dev/null 2>&1; } || die "missing Debian packages ${missing[*]} (installing them needs root and apt-get)"
  log "installing Debian packages: ${missing[*]}"
  for attempt in 1 2; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      >>"$NDIR/apt.log" 2>&1; then return 0; fi
    if [[ "$attempt" == 1 ]]; then apt-get update -q >>"$NDIR/apt.log" 2>&1 || true; fi
  done
  tail -20 "$NDIR/apt.log" >&2
  die "apt-get install ${missing[*]} failed"
}

# --- configuration ---------------------------------------------------------------

# put <file>: writes stdin there only if it differs, by renaming a new file into
# place (containerd reloads the CNI directory and kube-proxy exits on any change)
put() {
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv -f "$1.new" "$1"; fi
}

# the CNI routes of a pod: its own subnet, and the cluster's Service ranges
# through the host, where kube-proxy translates ClusterIPs
service_routes() {
  local cidr out="{ \"dst\": \"$SUBNET\" }"
  for cidr in $(kc get servicecidrs -o jsonpath='{range .items[*]}{.spec.cidrs[*]}{" "}{end}' 2>/dev/null); do
    [[ "$cidr" == *.* ]] && out+=", { \"dst\": \"$cidr\", \"gw\": \"$ADDRESS\" }"
  done
  echo "$out"
}

write_containerd_config() {
  mkdir -p "$CT_ROOT" "$RUN_DIR" "$CNI_CONF_DIR" "$CNI_DATA_DIR"
  put "$NDIR/containerd.toml" <<EOF
# generated by node.sh; edits are overwritten
version = 3
root = "$CT_ROOT/root"
state = "$RUN_DIR/state"
# no default /opt/containerd, no NRI socket under /var/run
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "$SOCKET"
[ttrpc]
  address = "$RUN_DIR/containerd.sock.ttrpc"
[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CT_ROOT/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"

[plugins."io.containerd.cri.v1.runtime"]
  # the sandbox may not lower its OOM score here
  restrict_oom_score_adj = true
  # pod network namespaces under our state dir, not /var/run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$BIN_DIR/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["$CNI_BIN_DIR"]
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  put "$CNI_CONF_DIR/10-ymera.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ymera",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CNI_DATA_DIR",
        "ranges": [[{ "subnet": "$SUBNET", "rangeStart": "${ADDRESS%.*}.10", "rangeEnd": "${ADDRESS%.*}.249", "gateway": "$ADDRESS" }]],
        "routes": [$(service_routes)]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
EOF
}

# issue_cert <name> <subject>: a client certificate signed by the cluster CA
# (renewed when the CA changes, e.g. after the cluster was recreated)
issue_cert() {
  local name="$1" subject="$2" ca="$CLUSTER_PKI/ca.crt" key="$CLUSTER_PKI/ca.key"
  if [[ -f "$PKI_DIR/$name.crt" ]] && cmp -s "$ca" "$PKI_DIR/ca.crt" &&
    openssl x509 -checkend 86400 -noout -in "$PKI_DIR/$name.crt" >/dev/null 2>&1; then
    return 0
  fi
  log "issuing the client certificate $subject"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI_DIR/$name.key" -out "$PKI_DIR/$name.csr" \
    -subj "$subject" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$PKI_DIR/ext.cnf"
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$ca" -CAkey "$key" -CAcreateserial \
    -CAserial "$PKI_DIR/ca.srl" -days 365 -extfile "$PKI_DIR/ext.cnf" -out "$PKI_DIR/$name.crt" 2>/dev/null
  chmod 600 "$PKI_DIR/$name.key"
  rm -f "$PKI_DIR/$name.csr"
}

# the kubelet as system:node:<name> (Node authorizer, NodeRestriction); kube-proxy
# as system:kube-proxy (bound to system:node-proxier by default)
ensure_identities() {
  mkdir -p "$PKI_DIR"
  [[ -f "$CLUSTER_PKI/ca.crt" && -f "$CLUSTER_PKI/ca.key" ]] || die "cluster CA not found in $CLUSTER_PKI (is the cluster up?)"
  issue_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  issue_cert kube-proxy "/CN=system:kube-proxy"
  cp "$CLUSTER_PKI/ca.crt" "$PKI_DIR/ca.crt"
}

# kubeconfig <name>: a kubeconfig for the client certificate <name>
kubeconfig() {
  put "$NDIR/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ymera
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI_DIR/ca.crt
users:
- name: $1
  user:
    client-certificate: $PKI_DIR/$1.crt
    client-key: $PKI_DIR/$1.key
contexts:
- name: ymera
  context: {cluster: ymera, user: $1}
current-context: ymera
EOF
}

write_kube_proxy_config() {
  kubeconfig kube-proxy
  put "$NDIR/kube-proxy.yaml" <<EOF
# generated by node.sh; edits are overwritten
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
# its own nftables tables (ip/ip6 kube-proxy), apart from the host's rules
mode: nftables
clientConnection:
  kubeconfig: $NDIR/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
# the node's IP (kube-proxy binds nothing on it but node ports)
bindAddress: $ADDRESS
clusterCIDR: $SUBNET
detectLocalMode: ClusterCIDR
nodePortAddresses: ["$ADDRESS/32"]
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nftables:
  # pod -> ClusterIP -> pod on the same bridge: the reply must come back through
  # the host (no br_netfilter here), so service traffic is masqueraded
  masqueradeAll: true
  minSyncPeriod: 1s
  syncPeriod: 30s
# leave the host's conntrack sysctls alone
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

write_kubelet_config() {
  mkdir -p "$KUBELET_DIR" "$NDIR/pods"
  kubeconfig kubelet
  put "$NDIR/kubelet.yaml" <<EOF
# generated by node.sh; edits are overwritten
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCKET
# this host has cgroup v1 and no systemd: cgroupfs, no QoS cgroups, no allocatable enforcement
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
# The API server has no kubelet client certificate and reaches the kubelet by
# the node's name (/etc/hosts: 127.0.0.1), for logs, exec and port-forward. So
# the kubelet's API is on loopback only, where pods cannot reach it, and lets
# any caller there in (only the host's own processes can be one).
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
podLogsDir: $NDIR/pods
registerNode: true
registerWithTaints:
- key: ymera.io/real-node
  value: "true"
  effect: NoSchedule
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization:
  mode: AlwaysAllow
# no cluster DNS here: pods get the host's resolv.conf
resolvConf: /etc/resolv.conf
# the host is shared: do not evict or garbage-collect images over other users' disk use
evictionHard: {}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
# the e2e tests want quick status updates
nodeStatusUpdateFrequency: 4s
oomScoreAdj: 0
# leave the shared host's iptables alone
makeIPTablesUtilChains: false
EOF
}

# --- images ------------------------------------------------------------------------

# pack_image <ref> <entrypoint json> <rootfs source dir> <out.tar>: an OCI archive
# made by umoci, the layer being the files of the source dir
pack_image() {
  local ref="$1" entry="$2" src="$3" out="$4" work="$4.work" tag="${1##*:}"
  rm -rf "$work"; mkdir -p "$work"
  umoci init --layout "$work/oci" >/dev/null
  umoci new --image "$work/oci:$tag" >/dev/null
  umoci unpack --image "$work/oci:$tag" "$work/bundle" >/dev/null
  cp -a "$src/." "$work/bundle/rootfs/"
  umoci repack --image "$work/oci:$tag" "$work/bundle" >/dev/null
  # shellcheck disable=SC2086
  umoci config --image "$work/oci:$tag" --os linux --architecture amd64 --config.user 65535:65535 \
    $entry >/dev/null
  umoci gc --layout "$work/oci"
  tar -C "$work/oci" -cf "$out.tmp" .
  mv -f "$out.tmp" "$out"
  rm -rf "$work"
}

build_pause_image() { # prints the archive
  local src k8s_src out
  k8s_src="$(cd "$cluster_dir/gomod/node" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
  src="$k8s_src/build/pause/linux/pause.c"
  [[ -f "$src" ]] || die "pause.c not found at $src"
  out="$IMG_DIR/pause-$PAUSE_VERSION-$(sha256sum "$src" | cut -c1-10).tar"
  if [[ ! -f "$out" ]]; then
    log "building the pause image from $src"
    local root="$IMG_DIR/pause-root"
    rm -rf "$root"; mkdir -p "$root"
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-ymera" -o "$root/pause" "$src"
    strip "$root/pause"
    pack_image "$PAUSE_IMAGE" "--config.entrypoint /pause" "$root" "$out"
    rm -rf "$root"
  fi
  echo "$out"
}

busybox_version() { dpkg-query -W -f '${Version}' busybox-static | sed 's/^[0-9]*://; s/[^A-Za-z0-9_.-]/_/g'; }

build_busybox_image() { # prints the archive
  local out
  out="$IMG_DIR/busybox-$(busybox_version).tar"
  if [[ ! -f "$out" ]]; then
    log "building the busybox image from Debian's busybox-static"
    local root="$IMG_DIR/busybox-root" app
    rm -rf "$root"; mkdir -p "$root/bin" "$root/tmp" "$root/www"
    cp /bin/busybox "$root/bin/busybox"
    for app in sh httpd wget cat echo sleep ls; do ln -s busybox "$root/bin/$app"; done
    chmod 1777 "$root/tmp"
    pack_image "$BUSYBOX_REPO:$(busybox_version)" "--config.entrypoint /bin/sh --config.env PATH=/bin" "$root" "$out"
    rm -rf "$root"
  fi
  echo "$out"
}

# has_image <ref> <manifest digest>: the CRI's namespace holds exactly that
# (the list is read whole first: `grep -q` ending the pipe early would fail ctr
# with SIGPIPE under pipefail)
has_image() {
  local list
  list="$(ctr_ -n k8s.io images ls)" || return 1
  awk -v ref="$1" -v digest="$2" '$1 == ref && $3 == digest { found = 1 } END { exit !found }' <<<"$list"
}

# import_image <archive> <repository>: into the CRI's namespace, unless it is
# there already (same manifest)
import_image() {
  local archive="$1" repo="$2" index tag digest ref
  index="$(tar -xOf "$archive" ./index.json)"
  tag="$(grep -o '"org.opencontainers.image.ref.name": *"[^"]*"' <<<"$index" | cut -d'"' -f4)"
  digest="$(grep -o '"digest": *"sha256:[0-9a-f]*"' <<<"$index" | head -n 1 | cut -d'"' -f4)"
  ref="$repo:$tag"
  if has_image "$ref" "$digest"; then return 0; fi
  log "importing $ref ($digest)"
  ctr_ -n k8s.io images import --base-name "$repo" "$archive" >/dev/null
  has_image "$ref" "$digest" || die "import of $archive did not create $ref at $digest"
}

# --- parts -------------------------------------------------------------------------

# the API server dials a kubelet by the node's name (its first address type)
HOSTS_LINE="127.0.0.1 $NODE_NAME # ymera real node (test/e2e/stack/node.sh)"
ensure_hosts_entry() {
  grep -qxF "$HOSTS_LINE" /etc/hosts || echo "$HOSTS_LINE" >>/etc/hosts
}
remove_hosts_entry() {
  local rest
  grep -qxF "$HOSTS_LINE" /etc/hosts || return 0
  rest="$(grep -vxF "$HOSTS_LINE" /etc/hosts)"
  # rewritten in place: /etc/hosts may be a bind mount
  printf '%s\n' "$rest" >/etc/hosts
}

containerd_ready() { ctr_ version >/dev/null 2>&1; }
kubelet_ready() { curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:10248/healthz 2>/dev/null; }
kube_proxy_ready() { curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:10256/livez 2>/dev/null; }
forwarder_ready() { port_open "$ADDRESS" "$API_PORT"; }

node_ready() {
  [[ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

start_containerd() {
  # the shims find runc and themselves on PATH
  start_part containerd "$(stamp "$NDIR/containerd.toml" "$CNI_CONF_DIR/10-ymera.conflist" "$BIN_DIR/containerd")" \
    containerd_ready 60 \
    env PATH="$BIN_DIR:$PATH" "$BIN_DIR/containerd" --config "$NDIR/containerd.toml"
}

start_forwarder() {
  start_part forwarder "$ADDRESS:$API_PORT" forwarder_ready 10 \
    socat "TCP-LISTEN:$API_PORT,bind=$ADDRESS,reuseaddr,fork" "TCP:127.0.0.1:$API_PORT"
}

start_kubelet() {
  start_part kubelet "$(stamp "$NDIR/kubelet.yaml" "$NDIR/kubelet.kubeconfig" "$PKI_DIR/kubelet.crt" "$BIN_DIR/kubelet")" \
    kubelet_ready 120 \
    "$BIN_DIR/kubelet" --config="$NDIR/kubelet.yaml" --kubeconfig="$NDIR/kubelet.kubeconfig" \
    --root-dir="$KUBELET_DIR" --cert-dir="$PKI_DIR/serving" --hostname-override="$NODE_NAME" \
    --node-ip="$ADDRESS" --node-labels="$LABELS" --v=1
}

start_kube_proxy() {
  start_part kube_proxy "$(stamp "$NDIR/kube-proxy.yaml" "$NDIR/kube-proxy.kubeconfig" "$PKI_DIR/kube-proxy.crt" "$BIN_DIR/kube-proxy")" \
    kube_proxy_ready 60 \
    "$BIN_DIR/kube-proxy" --config="$NDIR/kube-proxy.yaml" --v=1
}

cmd_up() {
  local start=$SECONDS pause busybox deadline
  lock
  apt_install containernetworking-plugins socat umoci busybox-static gcc libc6-dev nftables
  bash "$cluster_dir/build-binaries.sh" >/dev/null
  ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | grep -q " $ADDRESS/24 " ||
    die "bridge $BRIDGE with $ADDRESS/24 is missing (run stack/bridge.sh up first)"
  api_up || die "the API server is not ready (run cluster/cluster.sh up first)"
  read_api_port || die "cannot tell the API server's port from $ADMIN_KUBECONFIG"
  mkdir -p "$IMG_DIR"
  pause="$(build_pause_image)"
  busybox="$(build_busybox_image)"

  write_containerd_config
  start_containerd
  import_image "$pause" "${PAUSE_IMAGE%:*}"
  import_image "$busybox" "$BUSYBOX_REPO"
  start_forwarder

  ensure_identities
  ensure_hosts_entry
  write_kubelet_config
  start_kubelet
  # a kubelet registers its node only when it starts: after the cluster was
  # recreated (or someone deleted the node) it needs a restart
  deadline=$((SECONDS + 15))
  until kc get node "$NODE_NAME" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "node $NODE_NAME is not registered; restarting the kubelet"
      stop_pids "$(pids_of kubelet)" 15
      start_kubelet
      break
    fi
    sleep 1
  done

  deadline=$((SECONDS + 120))
  until node_ready; do
    if ((SECONDS >= deadline)); then
      tail -n 30 "$(log_file kubelet)" >&2 || true
      die "node $NODE_NAME did not become Ready within 120s; see $(log_file kubelet)"
    fi
    sleep 1
  done
  # after the node exists: kube-proxy waits for it (else it guesses a loopback node IP)
  write_kube_proxy_config
  start_kube_proxy
  log "up: node $NODE_NAME Ready ($((SECONDS - start))s); containerd at $SOCKET"
}

# unmount_under <dir>: every mount point below dir, deepest first
unmount_under() {
  local m
  awk -v d="$1/" 'index($2 "/", d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
}

cmd_down() {
  lock
  read_api_port || true
  stop_pids "$(pids_of kubelet)" 20
  if [[ -n "$(pids_of containerd)" ]] && containerd_ready; then
    # kill every container (pods and sandboxes) while containerd still tracks them
    local t
    for t in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do ctr_ -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  fi
  stop_pids "$(pids_of containerd)" 15
  stop_pids "$(pids_of shim)" 10
  stop_pids "$(pids_of forwarder)" 5
  stop_pids "$(pids_of kube_proxy)" 10
  rm -f "$(pid_file kubelet)" "$(pid_file containerd)" "$(pid_file forwarder)" "$(pid_file kube_proxy)"
  # kube-proxy's rules live in its own tables
  local family
  for family in ip ip6; do nft delete table "$family" kube-proxy 2>/dev/null || true; done
  # what the pods left: rootfs, shm, secrets and token volumes, network namespaces
  unmount_under "$RUN_DIR"
  unmount_under "$KUBELET_DIR"
  unmount_under "$CT_ROOT"
  # the IP leases of pods that no longer exist
  rm -rf "$CNI_DATA_DIR"
  if api_up; then kc delete node "$NODE_NAME" --ignore-not-found >/dev/null || true; fi
  remove_hosts_entry
  log "down"
}

cmd_status() {
  local rc=0 part pid
  read_api_port || true
  for part in containerd forwarder kube_proxy kubelet; do
    pid="$(tracked "$part")"
    if [[ -z "$pid" ]]; then
      echo "node ${part//_/-}: down"; rc=1
    elif ! "${part}_ready"; then
      echo "node ${part//_/-}: running but not ready (pid $pid)"; rc=1
    else
      echo "node ${part//_/-}: up (pid $pid)"
    fi
  done
  if api_up && node_ready; then
    echo "node $NODE_NAME: Ready"
  else
    echo "node $NODE_NAME: not Ready"; rc=1
  fi
  return "$rc"
}

cmd_env() {
  echo "export YMERA_REAL_NODE=$NODE_NAME"
  echo "export YMERA_REAL_NODE_TAINT=$TAINT"
  echo "export YMERA_REAL_NODE_LABEL=$LABELS"
  echo "export YMERA_CONTAINERD_ADDRESS=$SOCKET"
  echo "export YMERA_PAUSE_IMAGE=$PAUSE_IMAGE"
  if command -v dpkg-query >/dev/null && dpkg -s busybox-static >/dev/null 2>&1; then
    echo "export YMERA_BUSYBOX_IMAGE=$BUSYBOX_REPO:$(busybox_version)"
  fi
  echo "export YMERA_REAL_NODE_LOGS=$NDIR/pods"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
