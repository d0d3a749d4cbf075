#!/bin/sh
# Undoes on the host what a real node (tests/support/node.rs) left behind, in this order:
# processes, containers and shims, mounts, veths and the bridge, KUBE-/CNI- iptables chains and
# blocked flows, sysctls (to the values recorded before start), the host dirs and cgroups the node
# created, and finally the node dir itself.
# Usage: cleanup.sh NODE_DIR [OWNER]. With OWNER (the watchdog of a killed test binary), nothing
# is done unless NODE_DIR/owner still names that owner: a newer run may have cleaned up already.
set -u
R=$1
if [ $# -ge 2 ]; then
  [ "$(cat "$R/owner" 2>/dev/null)" = "$2" ] || exit 0
fi
BRIDGE=rn0
RUNC_ROOT=/run/containerd/runc/k8s.io

# mentions_dir PID: whether the process's command line names the node dir (so it is ours even
# if the pid was reused).
mentions_dir() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q -- "$R/"; }

# 1. The node's own processes, by the pids it recorded.
for f in "$R"/pids/*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f")
  mentions_dir "$p" && kill -9 "$p" 2>/dev/null
done

# 2. Containers the killed containerd left running (ids from its state dir), then their shims,
#    which name our containerd socket on their command line.
for d in "$R"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/; do
  [ -d "$d" ] || continue
  id=$(basename "$d")
  runc --root "$RUNC_ROOT" kill "$id" KILL 2>/dev/null
  runc --root "$RUNC_ROOT" delete --force "$id" 2>/dev/null
done
for p in $(ls /proc | grep -E '^[0-9]+$'); do
  case "$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" in
    *containerd-shim*"$R/containerd/containerd.sock"*) kill -9 "$p" 2>/dev/null ;;
  esac
done
for i in 1 2 3 4 5 6 7 8 9 10; do
  left=0
  for f in "$R"/pids/*.pid; do [ -f "$f" ] && mentions_dir "$(cat "$f")" && left=1; done
  [ "$left" = 0 ] && break
  sleep 0.2
done

# 3. Mounts under the node dir (kubelet's root bind mount, shm, netns, rootfs), deepest first.
for m in $(awk -v r="$R/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done

# 4. Network: veths still on the bridge, the bridge, rules and chains of kubelet, kube-proxy,
#    the CNI plugins and the harness's blocked flows (comment kgents-gate-block).
if [ -d /sys/class/net/$BRIDGE ]; then
  for v in $(ls /sys/class/net/$BRIDGE/brif 2>/dev/null); do ip link del "$v" 2>/dev/null; done
  ip link del $BRIDGE 2>/dev/null
fi
for ipt in iptables ip6tables; do
  command -v $ipt >/dev/null 2>&1 || continue
  for t in filter nat mangle; do
    $ipt-save -t $t 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*(-j (KUBE|CNI)-|kgents-gate-block)' |
      sed 's/^-A/-D/' | while read -r rule; do eval $ipt -w 5 -t $t $rule 2>/dev/null; done
    chains=$($ipt-save -t $t 2>/dev/null | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\).*/\1/p')
    for ch in $chains; do $ipt -w 5 -t $t -F "$ch" 2>/dev/null; done
    for ch in $chains; do $ipt -w 5 -t $t -X "$ch" 2>/dev/null; done
  done
done

# 5. Sysctls back to the values read before start.
if [ -f "$R/sysctl.before" ]; then
  while read -r k v; do sysctl -qw "$k=$v" 2>/dev/null; done < "$R/sysctl.before"
fi

# 6. Host dirs and cgroups the kubelet, containerd and libcni created outside the node dir
#    (only those that did not exist before start).
if [ -f "$R/hostdirs.created" ]; then
  while read -r d; do [ -n "$d" ] && rm -rf --one-file-system "$d"; done < "$R/hostdirs.created"
fi
if [ -f "$R/cgroups.created" ]; then
  while read -r d; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done < "$R/cgroups.created"
fi

# 7. The node dir, never crossing into a mount that survived step 3.
rm -rf --one-file-system "$R"
exit 0
