# shellcheck shell=bash
# Sourced by stack/lib.sh and cluster/cluster.sh.

# close_fds: closes every descriptor above 2 of this (sub)shell. Servers are
# started as `( close_fds; exec setsid ... ) &` so that they hold no lock of
# whoever ran the script: flock(1) hands its lock to the command it runs, and a
# server started under `flock /tmp/ymera-e2e.lock ...` would otherwise keep
# that lock for as long as it lives.
close_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd="${fd##*/}"
    if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}
