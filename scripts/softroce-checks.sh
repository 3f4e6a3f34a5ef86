#!/usr/bin/env bash
# Runs INSIDE the Soft-RoCE VM (see scripts/test-softroce.sh): real verbs checks against rxe
# devices, one line per check, "softroce: N passed, N failed" at the end, exit 1 on any failure.
# Usage: softroce-checks.sh single|pair FABRICBENCH RESULTS_DIR
set -u
mode=$1 fb=$2 out=$3
passed=0 failed=0
# Each fabricbench call has its own --timeout, and the VM a watchdog (-t), so nothing can hang.
check() {  # name, command or function...
    local name=$1; shift
    if "$@" > "$out/$name.log" 2>&1; then
        echo "PASS $name"; passed=$((passed + 1))
    else
        echo "FAIL $name (exit $?)"; tail -5 "$out/$name.log" | sed 's/^/    /'; failed=$((failed + 1))
    fi
}
# A collective over verbs whose table says every element was right.
collective() { "$fb" "$@" --transport verbs -n 3 -w 1 -c 1 --timeout 120 > "$out/last.log" 2>&1 && grep -q "Out of bounds values : 0 OK" "$out/last.log"; }

if [ "$mode" = single ]; then
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
    # A peer killed mid-run: rank 0 must fail with the verbs advice, long before --timeout.
    kill_test() {
        local json=$out/killed.json port=29555
        "$fb" latency --rank 0 --world-size 2 --master 127.0.0.1:$port --transport verbs -b 8 -e 64 -f 2 -D 20 --timeout 120 --json "$json" > "$out/rank0.log" 2>&1 &
        local r0=$!
        "$fb" latency --rank 1 --world-size 2 --master 127.0.0.1:$port --transport verbs -b 8 -e 64 -f 2 -D 20 --timeout 120 > /dev/null 2>&1 &
        local r1=$!
        for _ in $(seq 1 600); do grep -q '"bytes"' "$json" 2>/dev/null && break; sleep 0.1; done
        kill -9 $r1
        local start=$SECONDS
        wait $r0; local rc=$?
        echo "rank 0 exit $rc after $((SECONDS - start)) s"; cat "$out/rank0.log"
        [ $rc -ne 0 ] && [ $((SECONDS - start)) -lt 60 ] && grep -q "rank 1" "$out/rank0.log" && grep -q '"status" : "failed"' "$json"
    }
    check killed-peer-gives-an-error-not-a-hang kill_test
    # Same boot, same device: perftest's ib_write_lat beside fabricbench's verbs latency.
    compare() {
        (ib_write_lat -d rxe0 -x 1 -n 2000 -s 8 > "$out/ib_write_lat.server" 2>&1 &) ; sleep 1
        ib_write_lat -d rxe0 -x 1 -n 2000 -s 8 127.0.0.1 > "$out/ib_write_lat.txt" 2>&1 || return 1
        "$fb" latency --np 2 --transport verbs -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_lat.txt" 2>&1 || return 1
        "$fb" latency --np 2 --transport verbs --verb send -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_send_lat.txt" 2>&1 || return 1
        echo "ib_write_lat (8 B):"; grep -A2 "t_min" "$out/ib_write_lat.txt" | tail -2
        echo "fabricbench latency --transport verbs (8 B, write with immediate):"; grep -E "^ +8 " "$out/fabricbench_verbs_lat.txt"
        echo "fabricbench latency --transport verbs --verb send (8 B, send/recv):"; grep -E "^ +8 " "$out/fabricbench_verbs_send_lat.txt"
        "$fb" latency --np 2 --transport verbs --last-byte -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_last_byte_lat.txt" 2>&1 || return 1
        echo "fabricbench latency --transport verbs --last-byte (8 B, RDMA write, last byte polled, as ib_write_lat):"; grep -E "^ +8 " "$out/fabricbench_verbs_last_byte_lat.txt"
        "$fb" latency --np 2 --transport verbs --events -b 8 -n 2000 --timeout 120 > "$out/fabricbench_verbs_events_lat.txt" 2>&1 || return 1
        echo "fabricbench latency --transport verbs --events (8 B, write with immediate, completion channel):"; grep -E "^ +8 " "$out/fabricbench_verbs_events_lat.txt"
    }
    check perftest-comparison compare
else
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
fi
echo "softroce: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
