#!/usr/bin/env bash
# Several "hosts" on one machine: N network namespaces, each with its own hostname, address
# and veth link into one bridge, and one fabricbench rank per namespace. Everything is torn
# down on exit, whatever happens (error, timeout, Ctrl-C). Needs root (ip netns, tc).
#
#   scripts/netns-hosts.sh [-n HOSTS] [--ranks-per-host K] [--rails R] [--shape I-J:RATE]...
#                          [--shape-host I:RATE[:out]]... [--shape-nic I:R:RATE[:out]]...
#                          [--cut S:I]... [--timeout SECONDS] -- COMMAND [ARGS...]
#
# COMMAND runs K times per namespace (default once) with FABRICBENCH_RANK, FABRICBENCH_WORLD_SIZE
# and FABRICBENCH_MASTER set (rank 0's address), so `fabricbench latency ...` needs no launch
# flags; host i runs ranks i*K to i*K+K-1, FABRICBENCH_LOCAL_RANK 0 to K-1. (The local size is
# left to the world size: every "host" shares this machine's cores.)
#
# --rails R gives each namespace R interfaces, eth0 to eth(R-1): rail r is its own bridge and
# subnet (10.(201+r).X.(i+1)/24), as NIC r of every node hangs off rail r's leaf. Ranks pick
# theirs with `--iface eth0,eth1,...` (local rank i on eth i). Traffic between rails is routed
# by the namespaces (reverse-path filtering off), as a spine would. Rank 0's standard output is this script's standard
# output; the other ranks' output goes to standard error with a "[host i]" prefix.
#
# --shape I-J:RATE limits the link between hosts I and J to RATE (tc's units: 100mbit,
# 2gbit) in both directions, with an htb class that matches only the peer's address, so no
# other pair of hosts is affected. netem is not needed (and not in every kernel).
#
# --shape-host I:RATE limits everything host I sends and receives to RATE (a token bucket on
# its veth, each end); with :out, only what it sends (a bad transmit lane). --shape-nic I:R:RATE
# does the same to host I's rail-R interface only (one bad NIC of a multi-NIC node). Traffic between
# ranks of one host does not cross the veth and is never shaped.
#
# --cut S:I takes host I's link down S seconds after the ranks start: a network partition
# (no reset, no FIN: the host just goes silent), for testing that every rank still ends.
#
# Addresses are 10.201.X.(i+1)/24, X derived from this script's PID; no other traffic leaves
# these namespaces. The exit status is 0 only when every rank exits 0; a rank still running
# after --timeout seconds is killed and the script exits 124.
set -euo pipefail

hosts=4
per_host=1
rails=1
nic_shapes=()
timeout=120
shapes=()
host_shapes=()
cuts=()
usage() { sed -n '6,8p' "$0" | sed 's/^# *//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n) [ $# -ge 2 ] || usage; hosts=$2; shift 2 ;;
        --shape) [ $# -ge 2 ] || usage; shapes+=("$2"); shift 2 ;;
        --shape-host) [ $# -ge 2 ] || usage; host_shapes+=("$2"); shift 2 ;;
        --ranks-per-host) [ $# -ge 2 ] || usage; per_host=$2; shift 2 ;;
        --rails) [ $# -ge 2 ] || usage; rails=$2; shift 2 ;;
        --shape-nic) [ $# -ge 2 ] || usage; nic_shapes+=("$2"); shift 2 ;;
        --cut) [ $# -ge 2 ] || usage; cuts+=("$2"); shift 2 ;;
        --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "netns-hosts: unknown option '$1' (options go before --, the command after it)" >&2; usage ;;
    esac
done
[ $# -gt 0 ] || { echo "netns-hosts: no command given after --" >&2; usage; }
[[ "$hosts" =~ ^[0-9]+$ ]] && [ "$hosts" -ge 2 ] && [ "$hosts" -le 32 ] \
    || { echo "netns-hosts: -n takes 2 to 32 hosts (got '$hosts')" >&2; exit 2; }
[[ "$per_host" =~ ^[0-9]+$ ]] && [ "$per_host" -ge 1 ] && [ "$per_host" -le 8 ] \
    || { echo "netns-hosts: --ranks-per-host takes 1 to 8 (got '$per_host')" >&2; exit 2; }
[[ "$rails" =~ ^[0-9]+$ ]] && [ "$rails" -ge 1 ] && [ "$rails" -le 8 ] \
    || { echo "netns-hosts: --rails takes 1 to 8 (got '$rails')" >&2; exit 2; }
[[ "$timeout" =~ ^[0-9]+$ ]] && [ "$timeout" -ge 1 ] || { echo "netns-hosts: --timeout takes whole seconds (got '$timeout')" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "netns-hosts: needs root for ip netns and tc (run with sudo)" >&2; exit 2; }
for tool in ip tc unshare timeout; do
    command -v "$tool" >/dev/null || { echo "netns-hosts: '$tool' not found: run scripts/install-deps.sh (iproute2, util-linux, coreutils)" >&2; exit 2; }
done

id=$(( $$ % 250 + 1 ))
prefix="fb$$"
bridge="${prefix}br"
subnet="10.201.$id"
address() { echo "$subnet.$(( $1 + 1 ))"; }
namespace() { echo "${prefix}h$1"; }
# Rail 0 keeps the single-rail names; rail r > 0 has its own bridge, subnet and veths.
rail_bridge() { [ "$1" = 0 ] && echo "$bridge" || echo "${prefix}br$1"; }
rail_address() { echo "10.$(( 201 + $2 )).$id.$(( $1 + 1 ))"; }
rail_veth() { [ "$2" = 0 ] && echo "${prefix}v$1" || echo "${prefix}v$1r$2"; }

teardown() {
    for ((i = 0; i < hosts; i++)); do ip netns del "$(namespace "$i")" 2>/dev/null || true; done
    for ((r = 0; r < rails; r++)); do ip link del "$(rail_bridge "$r")" 2>/dev/null || true; done
}
trap teardown EXIT
trap 'exit 130' INT TERM

for ((r = 0; r < rails; r++)); do
    b=$(rail_bridge "$r")
    ip link show "$b" >/dev/null 2>&1 && { echo "netns-hosts: bridge $b already exists (a stale run?): ip link del $b" >&2; exit 1; }
    ip link add "$b" type bridge
    ip link set "$b" up
done
for ((i = 0; i < hosts; i++)); do
    ns=$(namespace "$i")
    ip netns add "$ns"
    for ((r = 0; r < rails; r++)); do
        ip link add "$(rail_veth "$i" "$r")" type veth peer name "eth$r" netns "$ns"
        ip link set "$(rail_veth "$i" "$r")" master "$(rail_bridge "$r")" up
        ip -n "$ns" addr add "$(rail_address "$i" "$r")/24" dev "eth$r"
        ip -n "$ns" link set "eth$r" up
    done
    ip -n "$ns" link set lo up
    if [ "$rails" -gt 1 ]; then
        # A rank on rail 0 reaching a peer's rail-1 address leaves by eth1 and is answered by
        # the peer's eth0: strict reverse-path filtering would drop that.
        for conf in all default eth0; do ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$conf.rp_filter=0"; done
        for ((r = 1; r < rails; r++)); do ip netns exec "$ns" sysctl -qw "net.ipv4.conf.eth$r.rp_filter=0"; done
    fi
done

# One htb class per shaped pair, on each end's egress, matching the other end's address.
declare -A shaped_classes
for spec in "${shapes[@]}"; do
    if ! [[ "$spec" =~ ^([0-9]+)-([0-9]+):([0-9]+[kmg]?(bit|bps))$ ]]; then
        echo "netns-hosts: --shape '$spec' is not I-J:RATE (e.g. 1-2:100mbit)" >&2; exit 2
    fi
    a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} rate=${BASH_REMATCH[3]}
    { [ "$a" -lt "$hosts" ] && [ "$b" -lt "$hosts" ] && [ "$a" != "$b" ]; } \
        || { echo "netns-hosts: --shape '$spec': hosts must be two different numbers below $hosts" >&2; exit 2; }
    for pair in "$a $b" "$b $a"; do
        read -r from to <<<"$pair"
        ns=$(namespace "$from")
        class=$(( ${shaped_classes[$from]:-0} + 1 )); shaped_classes[$from]=$class
        if [ "$class" = 1 ]; then
            # Unmatched traffic goes to the fast default class 1:99.
            ip netns exec "$ns" tc qdisc add dev eth0 root handle 1: htb default 99
            ip netns exec "$ns" tc class add dev eth0 parent 1: classid 1:99 htb rate 100gbit quantum 60000
        fi
        ip netns exec "$ns" tc class add dev eth0 parent 1: classid "1:$class" htb rate "$rate" ceil "$rate" quantum 1514
        ip netns exec "$ns" tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst "$(address "$to")/32" flowid "1:$class"
    done
    echo "# netns-hosts: link host $a <-> host $b shaped to $rate" >&2
done

# A token bucket on the namespace's end (what host I sends) and, unless :out, on the bridge's
# end (what it receives).
for spec in "${host_shapes[@]}"; do
    if ! [[ "$spec" =~ ^([0-9]+):([0-9]+[kmg]?(bit|bps))(:out)?$ ]]; then
        echo "netns-hosts: --shape-host '$spec' is not I:RATE or I:RATE:out (e.g. 2:200mbit)" >&2; exit 2
    fi
    h=${BASH_REMATCH[1]} rate=${BASH_REMATCH[2]} out=${BASH_REMATCH[4]}
    [ "$h" -lt "$hosts" ] || { echo "netns-hosts: --shape-host '$spec': host must be below $hosts" >&2; exit 2; }
    [ -z "${shaped_classes[$h]:-}" ] || { echo "netns-hosts: --shape-host '$spec': host $h already has a --shape link; use one or the other" >&2; exit 2; }
    ip netns exec "$(namespace "$h")" tc qdisc add dev eth0 root tbf rate "$rate" burst 64kb latency 400ms
    [ -n "$out" ] || tc qdisc add dev "${prefix}v$h" root tbf rate "$rate" burst 64kb latency 400ms
    echo "# netns-hosts: host $h shaped to $rate, ${out:+only what it sends}${out:-both ways}" >&2
done

for spec in "${nic_shapes[@]}"; do
    if ! [[ "$spec" =~ ^([0-9]+):([0-9]+):([0-9]+[kmg]?(bit|bps))(:out)?$ ]]; then
        echo "netns-hosts: --shape-nic '$spec' is not I:R:RATE or I:R:RATE:out (e.g. 2:1:200mbit)" >&2; exit 2
    fi
    h=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]} rate=${BASH_REMATCH[3]} out=${BASH_REMATCH[5]}
    { [ "$h" -lt "$hosts" ] && [ "$r" -lt "$rails" ]; } || { echo "netns-hosts: --shape-nic '$spec': host must be below $hosts and rail below $rails" >&2; exit 2; }
    [ "$r" != 0 ] || [ -z "${shaped_classes[$h]:-}" ] || { echo "netns-hosts: --shape-nic '$spec': host $h's eth0 already has a --shape link" >&2; exit 2; }
    ip netns exec "$(namespace "$h")" tc qdisc add dev "eth$r" root tbf rate "$rate" burst 64kb latency 400ms
    [ -n "$out" ] || tc qdisc add dev "$(rail_veth "$h" "$r")" root tbf rate "$rate" burst 64kb latency 400ms
    echo "# netns-hosts: host $h eth$r shaped to $rate, ${out:+only what it sends}${out:-both ways}" >&2
done

for spec in "${cuts[@]}"; do
    [[ "$spec" =~ ^([0-9]+(\.[0-9]+)?):([0-9]+)$ ]] && [ "${BASH_REMATCH[3]}" -lt "$hosts" ] \
        || { echo "netns-hosts: --cut '$spec' is not SECONDS:HOST with a host below $hosts (e.g. 2:1)" >&2; exit 2; }
done

port=$(( 29000 + id ))
pids=()
world=$(( hosts * per_host ))
for ((i = 0; i < hosts; i++)); do
  for ((j = 0; j < per_host; j++)); do
    rank=$(( i * per_host + j ))
    env=(FABRICBENCH_RANK="$rank" FABRICBENCH_LOCAL_RANK="$j" FABRICBENCH_WORLD_SIZE="$world" FABRICBENCH_MASTER="$(address 0):$port"
         FABRICBENCH_JOB_TOKEN="netns-$$")
    # A UTS namespace too, so each rank reports its own host name.
    run=(ip netns exec "$(namespace "$i")" unshare --uts sh -c 'hostname "$0"; exec "$@"'
         "netns-host$i" env "${env[@]}" timeout -k 5 "$timeout" "$@")
    if [ "$rank" = 0 ]; then
        "${run[@]}" &
    else
        "${run[@]}" > >(sed -u "s/^/[host $i] /" >&2) 2>&1 &
    fi
    pids+=($!)
  done
done
for spec in "${cuts[@]}"; do
    after=${spec%%:*} host=${spec##*:}
    ( sleep "$after"; for ((r = 0; r < rails; r++)); do ip link set "$(rail_veth "$host" "$r")" down 2>/dev/null; done
      date +%s.%N > "/tmp/$prefix.cut"
      echo "# netns-hosts: host $host cut off after ${after}s" >&2 ) &
done
status=0
for ((r = 0; r < world; r++)); do
    rc=0; wait "${pids[$r]}" || rc=$?
    if [ "$rc" != 0 ]; then
        [ "$rc" = 124 ] && echo "netns-hosts: rank $r (host $(( r / per_host ))) was still running after ${timeout}s and was killed" >&2
        [ "$status" = 0 ] || [ "$rc" = 124 ] && status=$rc
    fi
done
# How long the ranks took to give up after the partition: what a test bounds (the total time
# also holds the namespaces' setup, which a loaded machine stretches).
if [ -f "/tmp/$prefix.cut" ]; then
    echo "# netns-hosts: every rank ended $(awk -v a="$(cat "/tmp/$prefix.cut")" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after the cut" >&2
    rm -f "/tmp/$prefix.cut"
fi
exit "$status"
