#!/usr/bin/env bash
# Runs INSIDE the Soft-RoCE VM (see scripts/test-softroce.sh): real verbs checks against rxe
# devices, one line per check, "softroce: N passed, N failed" at the end, exit 1 on any failure.
# Usage: softroce-checks.sh single|perftest|pair|soak|packed FABRICBENCH RESULTS_DIR [TARBALL]
#   packed    only the checks of scripts/package.sh's TARBALL: devices and a verbs latency run
#             from the unpacked binary without Swift (single runs them first when given TARBALL)
#   single    every check on one rxe device, ending with a short verbs soak (8 runs) that
#             finds no device resource left by anything the boot ran
#   perftest  ib_write_lat / ib_write_bw beside fabricbench, timed (not a pass/fail on speed)
#   pair      two NICs on one virtual wire (rxe0 <-> rxe1), one per rank; boot the VM with -n 2
#   soak      the verbs conformance suites, then FABRICBENCH_VERBS_SOAK_RUNS (50) runs, then
#             the same leftover count (docs/RELIABILITY.md, "Soak")
# Each line also goes to RESULTS_DIR/MODE.results as it is printed, so the host still counts
# the finished checks if the VM's watchdog ends the boot early.
set -u
mode=$1 fb=$2 out=$3 tarball=${4:-}
# The host-built XCTest bundle (debug), for the conformance suite.
xctest=${FABRICBENCH_XCTEST:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/FabricBenchPackageTests.xctest}
passed=0 failed=0
results=$out/$mode.results
: > "$results"
say() { echo "$*" | tee -a "$results"; }
# Each fabricbench call has its own --timeout, and the VM a watchdog (-t), so nothing can hang.
check() {  # name, command or function...
    local name=$1; shift
    local began=$SECONDS
    if "$@" > "$out/$name.log" 2>&1; then
        say "PASS $name ($((SECONDS - began)) s)"; passed=$((passed + 1))
    else
        say "FAIL $name (exit $?, $((SECONDS - began)) s)"; tail -5 "$out/$name.log" | sed 's/^/    /'; failed=$((failed + 1))
    fi
}
# The suite every transport passes (Tests/FabricConformanceTests), over verbs, from the test
# bundle built on the host (whose own test run skips these classes). A skip fails here: each
# class must report that it passed.
conformance() {  # class
    local rc=0
    timeout 600 "$xctest" "FabricConformanceTests.$1" > "$out/$1.log" 2>&1 || rc=$?
    grep -E "^conformance |error: |Test Case '$1|Executed " "$out/$1.log"
    [ $rc -eq 0 ] && grep -q "Test Case '$1.testConformance' passed" "$out/$1.log"
}
# What the device holds ("pd 1 cq 1 qp 1 cm_id 0 mr 0 ctx 0 srq 0", iproute2's rdma res);
# the kernel's own QP1 and its PD and CQ are there before anything runs.
rdma_counts() { rdma res show 2>/dev/null | awk '{ for (i = 3; i < NF; i += 2) printf "%s %s ", $i, $(i + 1) }'; }
count_of() { echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }'; }
# Before any check of this boot: the soak's leftovers are counted against it.
baseline=$(rdma_counts)
# Back-to-back runs over verbs (both setups, both data paths, --qps 2, 2 and 3 ranks), each
# checked, then what the device still holds against the boot's start: every PD, CQ, QP, MR,
# rdma_cm id and context any run or check of this boot made must be gone.
soak() {  # runs
    local runs=$1 began=$SECONDS failed=0 i leftover=0 name before after
    for i in $(seq 1 "$runs"); do
        case $((i % 4)) in
            1) "$fb" latency --np 2 --transport verbs -b 8 -e 1K -f 8 -n 20 -c 1 --timeout 60 ;;
            2) "$fb" allreduce --np 2 --transport verbs -b 8 -e 16K -f 16 -n 2 -w 1 -c 1 --timeout 60 ;;
            3) "$fb" latency --np 2 --transport verbs --cm -b 8 -e 1K -f 8 -n 20 -c 1 --timeout 60 ;;
            0) "$fb" allreduce --np 3 --transport verbs --cm --qps 2 --verb send -b 8 -e 16K -f 16 -n 2 -w 1 -c 1 --timeout 60 ;;
        esac > "$out/soak-run.log" 2>&1 || { failed=$((failed + 1)); echo "soak run $i failed:"; tail -3 "$out/soak-run.log"; }
        echo "soak run $i of $runs done, $((SECONDS - began)) s so far"  # progress, if the watchdog ends the boot
    done
    local now; now=$(rdma_counts)
    echo "rdma res show, rxe0, at the boot's start: ${baseline:-nothing (no rdma tool?)}"
    echo "rdma res show, rxe0, after $runs soak runs: ${now:-nothing}"
    local report=""
    for name in pd cq qp mr cm_id ctx srq; do
        before=$(count_of "$baseline" $name) after=$(count_of "$now" $name)
        [ -n "$before" ] && [ -n "$after" ] || { echo "rdma res shows no '$name' count"; return 1; }
        report+=" $name $((after - before))"
        [ "$after" -eq "$before" ] || leftover=$((leftover + 1))
    done
    echo "verbs soak: $runs runs, $failed failed; left over:$report; $((SECONDS - began)) s"
    [ "$failed" -eq 0 ] && [ "$leftover" -eq 0 ]
}
# A collective over verbs whose table says every element was right.
collective() { "$fb" "$@" --transport verbs -n 3 -w 1 -c 1 --timeout 120 > "$out/last.log" 2>&1 && grep -q "Out of bounds values : 0 OK" "$out/last.log"; }

# A peer killed mid-run: rank 0 must fail with the verbs advice, long before --timeout.
kill_test() {  # extra flags for both ranks
    local json=$out/killed.json port=$((29500 + RANDOM % 50))
    rm -f "$json"
    "$fb" latency --rank 0 --world-size 2 --master 127.0.0.1:$port --transport verbs "$@" -b 8 -e 64 -f 2 -D 8 --timeout 120 --json "$json" > "$out/rank0.log" 2>&1 &
    local r0=$!
    "$fb" latency --rank 1 --world-size 2 --master 127.0.0.1:$port --transport verbs "$@" -b 8 -e 64 -f 2 -D 8 --timeout 120 > /dev/null 2>&1 &
    local r1=$!
    for _ in $(seq 1 600); do grep -q '"bytes"' "$json" 2>/dev/null && break; sleep 0.1; done
    kill -9 $r1
    local start=$SECONDS
    wait $r0; local rc=$?
    echo "rank 0 exit $rc after $((SECONDS - start)) s"; cat "$out/rank0.log"
    [ $rc -ne 0 ] && [ $((SECONDS - start)) -lt 60 ] && grep -q "rank 1" "$out/rank0.log" && grep -q '"status" : "failed"' "$json"
}
# One perftest run: its server in the background, then the client once the server listens
# (on perftest's port 18515; a fresh boot can take seconds to start it).
perftest() {  # output file, tool and its arguments...
    local file=$1; shift
    ("$@" > "$file.server" 2>&1 &)
    for _ in $(seq 1 300); do ss -ltn 2>/dev/null | grep -q ":18515 " && break; sleep 0.1; done
    "$@" 127.0.0.1 > "$file" 2>&1 || { echo "$* 127.0.0.1 failed:"; cat "$file" "$file.server"; return 1; }
}
# The tarball, as a node without Swift gets it: unpacked here and run with env -i in a mount
# namespace where an empty tmpfs covers the toolchain's Swift runtime. The control: $fb (linked
# with the Swift runtime dynamically) cannot start there.
packed_checks() {
    local dir=$out/packed pfb swiftlib
    rm -rf "$dir"; mkdir -p "$dir"
    check packed-unpack tar -xzf "$tarball" -C "$dir"
    pfb=$(echo "$dir"/fabricbench-*/bin/fabricbench)
    swiftlib=$(ldd "$fb" | sed -n 's|.*libswiftCore\.so => \(/.*\)/libswiftCore\.so .*|\1|p')
    noswift() {
        unshare --mount --propagation private sh -c \
            'mount -t tmpfs -o size=1m no-swift "$0" && [ ! -e "$0/libswiftCore.so" ] && exec env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= "$@"' \
            "$swiftlib" "$@"
    }
    packed_control() { [ -n "$swiftlib" ] && noswift "$fb" --version 2>&1 | tee "$out/packed-control.txt" | grep -q "libswift"; }
    packed_devices() { noswift "$pfb" devices | tee "$out/packed-devices.txt" | grep -q 'chosen: GID [0-9]* (RoCE v2'; }
    packed_latency() {
        noswift "$pfb" latency --np 2 --transport verbs -b 8 -e 64K -f 8 -n 200 -c 1 --timeout 120 --json "$out/packed-latency.json" &&
            grep -q '"verb" : "write"' "$out/packed-latency.json"
    }
    check packed-control-swift-hidden packed_control
    check packed-devices-without-swift packed_devices
    check packed-latency-verbs-without-swift packed_latency
}

if [ "$mode" = packed ] || { [ "$mode" = single ] && [ -n "$tarball" ]; }; then
    if [ -z "$tarball" ]; then say "FAIL packed (no TARBALL argument)"; failed=$((failed + 1)); else packed_checks; fi
fi
if [ "$mode" = packed ]; then
    :
elif [ "$mode" = single ]; then
    check devices-sees-rxe0-and-picks-roce-v2 bash -c "'$fb' devices --json '$out/devices.json' | tee /dev/stderr | grep -q 'chosen: GID [0-9]* (RoCE v2'"
    # The default data path is RDMA write with immediate; --verb send is the two-sided one.
    check latency-2-ranks-verbs-checked bash -c "'$fb' latency --np 2 --transport verbs -b 8 -e 64K -f 8 -n 200 -c 1 --json '$out/latency.json' --timeout 120 && grep -q '\"verb\" : \"write\"' '$out/latency.json'"
    check latency-2-ranks-verb-send-checked "$fb" latency --np 2 --transport verbs --verb send -b 8 -e 64K -f 8 -n 200 -c 1 --timeout 120
    check allreduce-4-ranks-ring-verb-send collective allreduce --np 4 --algo ring --verb send -b 8 -e 256K -f 64
    # ib_write_lat's method: RDMA write, the peer polls the last byte (2 B to 64 KiB).
    check latency-last-byte bash -c "'$fb' latency --np 2 --transport verbs --last-byte -b 2 -e 64K -f 8 -n 300 --timeout 120 --json '$out/last-byte.json' && grep -q '\"last_byte\" : \"true\"' '$out/last-byte.json'"
    # --events: waits sleep on a completion channel instead of polling.
    check latency-events-checked bash -c "'$fb' latency --np 2 --transport verbs --events -b 8 -e 64K -f 8 -n 200 -c 1 --json '$out/events.json' --timeout 120 && grep -q 'events (completion channel)' '$out/events.json'"
    check allreduce-4-ranks-tree-events collective allreduce --np 4 --algo tree --events -b 8 -e 256K -f 64
    check latency-auto-picks-verbs bash -c "'$fb' latency --np 2 -n 50 --timeout 120 | grep -q 'auto chose verbs'"
    check numa-placement-recorded bash -c "'$fb' latency --np 2 --transport verbs --numa 0 -n 20 --timeout 120 --json '$out/numa.json' && grep -q 'bound to NUMA node 0 (--numa)' '$out/numa.json'"
    check bandwidth-2-ranks-verbs "$fb" bandwidth --np 2 --transport verbs -b 64K -e 256K -f 4 -n 30 --timeout 120
    for algo in ring tree rd; do
        check "allreduce-2-ranks-$algo" collective allreduce --np 2 --algo "$algo" -b 8 -e 256K -f 32
        check "allreduce-4-ranks-$algo" collective allreduce --np 4 --algo "$algo" -b 8 -e 64K -f 64 --dtype int32 --op max
    done
    check reducescatter-3-ranks collective reducescatter --np 3 -b 96 -e 96K -f 32
    check allgather-3-ranks collective allgather --np 3 -b 96 -e 96K -f 32
    check broadcast-3-ranks collective broadcast --np 3 --root 1 -b 8 -e 64K -f 64
    # Connection setup through librdmacm (--cm): latency and all-reduce on 2 and 4 ranks.
    check latency-2-ranks-cm-checked bash -c "'$fb' latency --np 2 --transport verbs --cm -b 8 -e 64K -f 8 -n 200 -c 1 --json '$out/cm.json' --timeout 120 && grep -q 'rdma_cm (--cm)' '$out/cm.json'"
    for algo in ring tree; do
        check "allreduce-2-ranks-$algo-cm" collective allreduce --np 2 --algo "$algo" --cm -b 8 -e 256K -f 32
        check "allreduce-4-ranks-$algo-cm" collective allreduce --np 4 --algo "$algo" --cm -b 8 -e 64K -f 64
    done
    # --qps: messages of at least N x 4 KiB are striped over N queue pairs, both data paths.
    check latency-qps-4-write-checked "$fb" latency --np 2 --transport verbs --qps 4 -b 8 -e 256K -f 8 -n 100 -c 1 --timeout 120
    check latency-qps-4-send-checked "$fb" latency --np 2 --transport verbs --qps 4 --verb send -b 8 -e 256K -f 8 -n 100 -c 1 --timeout 120
    check allreduce-4-ranks-ring-qps-3 collective allreduce --np 4 --algo ring --qps 3 -b 8 -e 1M -f 32
    check allreduce-4-ranks-tree-cm-qps-2-send collective allreduce --np 4 --algo tree --cm --qps 2 --verb send -b 8 -e 1M -f 32
    check bandwidth-qps-4 bash -c "'$fb' bandwidth --np 2 --transport verbs --qps 4 -b 64K -e 1M -f 4 -n 30 --timeout 120 --json '$out/qps.json' && grep -q '\"queue_pairs_per_peer\" : \"4\"' '$out/qps.json'"
    # Ranks that disagree on --qps fail at setup with the reason, on both setup paths; no hang.
    qps_mismatch() {  # extra flags for both ranks
        local port=$((29400 + RANDOM % 100)) start=$SECONDS
        "$fb" latency --rank 1 --world-size 2 --master 127.0.0.1:$port --transport verbs --qps 1 "$@" -n 10 --timeout 60 > "$out/mismatch-rank1.log" 2>&1 &
        local r1=$!
        "$fb" latency --rank 0 --world-size 2 --master 127.0.0.1:$port --transport verbs --qps 2 "$@" -n 10 --timeout 60 > "$out/mismatch-rank0.log" 2>&1
        local rc0=$?
        wait $r1; local rc1=$?
        echo "exits $rc0 $rc1 after $((SECONDS - start)) s"; cat "$out"/mismatch-rank0.log "$out"/mismatch-rank1.log
        [ $rc0 -ne 0 ] && [ $rc1 -ne 0 ] && [ $((SECONDS - start)) -lt 50 ] && grep -q "same --qps" "$out/mismatch-rank0.log" && grep -q "same --qps" "$out/mismatch-rank1.log"
    }
    check qps-mismatch-refused qps_mismatch
    check qps-mismatch-refused-cm qps_mismatch --cm
    # --cm on an address that is not on an RDMA device: a clear error, at once.
    cm_bad_address() {
        timeout 60 "$fb" latency --np 2 --transport verbs --cm --bind 127.0.0.1 -n 10 --timeout 60 > "$out/cm-bad.log" 2>&1
        local rc=$?
        cat "$out/cm-bad.log"
        [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "RDMA" "$out/cm-bad.log"
    }
    check cm-bad-address-refused cm_bad_address
    check killed-peer-gives-an-error-not-a-hang kill_test
    check killed-peer-cm-gives-an-error-not-a-hang kill_test --cm
    # The conformance suite over verbs, both data paths.
    check verbs-conformance-suite conformance VerbsConformance
    check verbs-send-path-conformance-suite conformance VerbsSendPathConformance
    # --cm with strangers on rank 0's rdma_cm port (another job's token, garbage, no private
    # data, a rank outside the job): each is rejected, the job connects and moves its bytes.
    xctest_case() {  # class, test method
        local rc=0
        timeout 300 "$xctest" "$1" > "$out/$1.log" 2>&1 || rc=$?
        grep -E "ignored|error: |Test Case|Executed " "$out/$1.log"
        [ $rc -eq 0 ] && grep -q "Test Case '${1#*.}.$2' passed" "$out/$1.log"
    }
    check cm-strangers-rejected-job-completes xctest_case FabricVerbsTests.StrangerConnectRequestTests testStrangersAreRejectedWhileTheJobConnects
    # Last: nothing this boot ran may have left a resource on the device.
    check verbs-soak soak 8
elif [ "$mode" = perftest ]; then
    # Same boot, same device: perftest's ib_write_lat beside fabricbench's verbs latency.
    # perftest calibrates its cycle counter by sampling; on a busy VM the fit can fail
    # ("Correlation coefficient r^2 ... < 0.9") and every figure prints as inf: try again.
    perftest_latency() {
        for attempt in 1 2 3; do
            perftest "$out/ib_write_lat.txt" ib_write_lat -d rxe0 -x 1 -n 2000 -s 8 || return 1
            grep -A1 "t_min" "$out/ib_write_lat.txt" | tail -1 | grep -q inf || return 0
            echo "ib_write_lat attempt $attempt: its clock calibration failed (figures are inf); again"
            sleep 2
        done
    }
    compare() {
        perftest_latency || return 1
        "$fb" latency --np 2 --transport verbs -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_lat.txt" 2>&1 || return 1
        "$fb" latency --np 2 --transport verbs --verb send -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_send_lat.txt" 2>&1 || return 1
        echo "ib_write_lat (8 B):"; grep -A2 "t_min" "$out/ib_write_lat.txt" | tail -2
        echo "fabricbench latency --transport verbs (8 B, write with immediate):"; grep -E "^ +8 " "$out/fabricbench_verbs_lat.txt"
        echo "fabricbench latency --transport verbs --verb send (8 B, send/recv):"; grep -E "^ +8 " "$out/fabricbench_verbs_send_lat.txt"
        "$fb" latency --np 2 --transport verbs --last-byte -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_last_byte_lat.txt" 2>&1 || return 1
        echo "fabricbench latency --transport verbs --last-byte (8 B, RDMA write, last byte polled, as ib_write_lat):"; grep -E "^ +8 " "$out/fabricbench_verbs_last_byte_lat.txt"
        "$fb" latency --np 2 --transport verbs --events -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_events_lat.txt" 2>&1 || return 1
        echo "fabricbench latency --transport verbs --events (8 B, write with immediate, completion channel):"; grep -E "^ +8 " "$out/fabricbench_verbs_events_lat.txt"
        "$fb" latency --np 2 --transport verbs --cm -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_cm_lat.txt" 2>&1 || return 1
        echo "fabricbench latency --transport verbs --cm (8 B, write with immediate, queue pairs set up by rdma_cm):"; grep -E "^ +8 " "$out/fabricbench_verbs_cm_lat.txt"
        # Bandwidth at 1 MiB over one and over four queue pairs, perftest's and ours.
        for q in 1 4; do
            perftest "$out/ib_write_bw_q$q.txt" ib_write_bw -d rxe0 -x 1 -s 1048576 -n 200 -q $q || return 1
            echo "ib_write_bw -q $q (1 MiB; BW peak, BW average in MB/s):"; grep -A1 "#bytes" "$out/ib_write_bw_q$q.txt" | tail -1
            "$fb" bandwidth --np 2 --transport verbs --qps $q -b 1M -n 200 --timeout 120 > "$out/fabricbench_bw_qps$q.txt" 2>&1 || return 1
            echo "fabricbench bandwidth --transport verbs --qps $q (1 MiB, GB/s):"; grep -E "^ +1048576 " "$out/fabricbench_bw_qps$q.txt"
        done
    }
    check perftest-comparison compare
elif [ "$mode" = pair ]; then
    # Two NICs on one virtual wire: rank 0 on rxe0, rank 1 on rxe1.
    pair() {  # command args...
        local port=$((29600 + RANDOM % 300))
        "$fb" "$@" --rank 1 --world-size 2 --master 127.0.0.1:$port --device rxe1 --transport verbs --timeout 120 > "$out/pair-rank1.log" 2>&1 &
        local r1=$!
        "$fb" "$@" --rank 0 --world-size 2 --master 127.0.0.1:$port --device rxe0 --transport verbs --timeout 120 > "$out/pair-rank0.log" 2>&1
        local rc=$?
        wait $r1 || rc=1
        cat "$out/pair-rank0.log"
        return $rc
    }
    check two-nics-latency pair latency -b 8 -e 4K -f 8 -n 100 -c 1
    check two-nics-allreduce bash -c "$(declare -f pair); fb='$fb' out='$out'; pair allreduce -b 8 -e 64K -f 16 -n 3 -c 1 | grep -q 'Out of bounds values : 0 OK'"
    # The same over rdma_cm: each rank listens on its own NIC's address (10.0.2.15, 10.0.2.16).
    check two-nics-latency-cm pair latency --cm -b 8 -e 64K -f 8 -n 100 -c 1
    check two-nics-allreduce-cm-qps-2 bash -c "$(declare -f pair); fb='$fb' out='$out'; pair allreduce --cm --qps 2 -b 8 -e 1M -f 32 -n 3 -c 1 | grep -q 'Out of bounds values : 0 OK'"
    # One NIC per local rank (--device a list, or auto), as on a rail-optimized node: the JSON
    # names each rank's device, and both devices' packet counters grow by the run's traffic.
    sent() { cat "/sys/class/infiniband/$1/ports/1/hw_counters/sent_pkts" 2>/dev/null || cat "/sys/class/infiniband/$1/ports/1/counters/port_xmit_packets"; }
    received() { cat "/sys/class/infiniband/$1/ports/1/hw_counters/rcvd_pkts" 2>/dev/null || cat "/sys/class/infiniband/$1/ports/1/counters/port_rcv_packets"; }
    device_list() {  # --device value, the devices ranks 0 and 1 must report
        local json=$out/devices-$1.json s0 s1 r0 r1
        s0=$(sent rxe0) s1=$(sent rxe1) r0=$(received rxe0) r1=$(received rxe1)
        "$fb" latency --np 2 --transport verbs --device "$1" -b 64K -n 100 -c 1 --timeout 120 --json "$json" || return 1
        local ds0=$(( $(sent rxe0) - s0 )) ds1=$(( $(sent rxe1) - s1 )) dr0=$(( $(received rxe0) - r0 )) dr1=$(( $(received rxe1) - r1 ))
        echo "packets during the run: rxe0 sent $ds0 received $dr0, rxe1 sent $ds1 received $dr1"
        python3 - "$json" "$2" "$3" <<'PY' || return 1
import json, sys
ranks = json.load(open(sys.argv[1]))["environment"]["ranks"]
print("ranks:", [(r["rank"], r["nic"], r.get("nic_choice")) for r in ranks])
assert [r["nic"] for r in ranks] == sys.argv[2:], f"expected {sys.argv[2:]}"
PY
        # 100 round trips of 64 KiB each way: at least 100 × 64 packets through each device each way.
        [ "$ds0" -ge 6400 ] && [ "$ds1" -ge 6400 ] && [ "$dr0" -ge 6400 ] && [ "$dr1" -ge 6400 ]
    }
    check device-list-one-nic-per-rank device_list rxe0,rxe1 rxe0 rxe1
    check device-list-reversed device_list rxe1,rxe0 rxe1 rxe0
    auto_nics() { device_list auto rxe0 rxe1 && "$fb" devices --ranks 2 --device auto | tee /dev/stderr | grep -q 'local rank 1: rxe1'; }
    check device-auto-distinct-nics auto_nics
    check allreduce-device-list-exact bash -c "'$fb' allreduce --np 2 --transport verbs --device rxe0,rxe1 -b 8 -e 1M -f 32 -n 3 -c 1 --timeout 120 | grep -q 'Out of bounds values : 0 OK'"
    check killed-peer-device-list-named kill_test --device rxe0,rxe1
    # One rank over both NICs, as on a cluster where every rank joins mlx5_0+mlx5_1: stripe i
    # goes NIC i to NIC i, here rxe0 to rxe0 and rxe1 to rxe1. (Crossed, rank 0 rxe0+rxe1 and
    # rank 1 rxe1+rxe0, both streams cross this one kernel between two devices at once, and
    # rxe misdelivered under a 64-message window: docs/PERFORMANCE.md, "Two NICs".)
    striped_latency() {
        local json=$out/striped.json s0 s1
        s0=$(sent rxe0) s1=$(sent rxe1)
        "$fb" latency --np 2 --transport verbs --device rxe0+rxe1 -b 8 -e 1M -f 8 -n 50 -c 1 --timeout 120 --json "$json" || return 1
        local ds0=$(( $(sent rxe0) - s0 )) ds1=$(( $(sent rxe1) - s1 ))
        echo "packets sent during the run: rxe0 $ds0, rxe1 $ds1"
        python3 - "$json" <<'PY' || return 1
import json, sys
d = json.load(open(sys.argv[1]))
settings, ranks = d["environment"]["transport"]["settings"], d["environment"]["ranks"]
print("rank 0:", settings["device"], "|", settings["striping"]); print("ranks:", [(r["rank"], r["nic"]) for r in ranks])
assert settings["device"] == "rxe0+rxe1" and [r["nic"] for r in ranks] == ["rxe0+rxe1", "rxe0+rxe1"]
assert all(r["wrong_bytes"] == 0 for r in d["results"]), [r["wrong_bytes"] for r in d["results"]]
PY
        # 50 round trips of 1 MiB alone put 50 × 512 KiB / MTU packets on each device.
        [ "$ds0" -ge 1000 ] && [ "$ds1" -ge 1000 ]
    }
    check striped-latency-exact striped_latency
    check striped-allreduce-exact collective allreduce --np 2 --device rxe0+rxe1 -b 8 -e 4M -f 16
    check striped-allreduce-3-ranks-cm-send collective allreduce --np 3 --cm --verb send --device rxe0+rxe1 -b 8 -e 256K -f 32
    check striped-bandwidth-window-64 "$fb" bandwidth --np 2 --transport verbs --device rxe0+rxe1 -b 64K -e 1M -f 4 -n 200 --timeout 120
    check killed-peer-striped-named kill_test --device rxe0+rxe1
    # Timed, not pass/fail on speed: 1 MiB bandwidth on one NIC, on both striped, and
    # perftest's ib_write_bw on each device (docs/PERFORMANCE.md, "Two NICs").
    striping_comparison() {
        # perftest calibrates its clock by sampling and on a busy VM may give up ("Correlation
        # coefficient r^2 < 0.9"): up to three tries; perftest's own failure is said, not fatal.
        for dev in rxe0 rxe1; do
            local attempt
            for attempt in 1 2 3; do
                perftest "$out/ib_write_bw_$dev.txt" ib_write_bw -d $dev -x 1 -s 1048576 -n 200 > /dev/null && break
                sleep 2
            done
            echo "ib_write_bw -d $dev (1 MiB; BW peak, BW average in MB/s), try $attempt:"
            grep -A1 "#bytes" "$out/ib_write_bw_$dev.txt" | tail -1 | grep -E "^ *[0-9]" || echo "    (perftest failed 3 times: $(grep -m1 -E 'Correlation|Couldn|Unable' "$out/ib_write_bw_$dev.txt"))"
        done
        for run in 1 2; do
            for devices in rxe0 rxe0+rxe1; do
                "$fb" bandwidth --np 2 --transport verbs --device $devices -b 1M -n 200 --timeout 120 > "$out/fb_bw.txt" 2>&1 || { cat "$out/fb_bw.txt"; return 1; }
                echo "fabricbench bandwidth --device $devices (1 MiB, GB/s), run $run:"; grep -E "^ +1048576 " "$out/fb_bw.txt"
            done
        done
    }
    check striping-comparison striping_comparison  # its log is $out/striping-comparison.log
elif [ "$mode" = soak ]; then
    check verbs-conformance-suite conformance VerbsConformance
    check verbs-send-path-conformance-suite conformance VerbsSendPathConformance
    check verbs-soak soak "${FABRICBENCH_VERBS_SOAK_RUNS:-50}"
else
    echo "softroce-checks.sh: unknown mode '$mode' (single, perftest, pair, soak or packed)" >&2; exit 2
fi
say "softroce: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
