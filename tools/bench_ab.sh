#!/usr/bin/env bash
# Two builds' benchmarks in one run, alternating, so that a change is
# measured against the code before it on the same GPU at the same time:
#   tools/bench_ab.sh OLD_BENCH NEW_BENCH FILTER OUT_DIR [ROUNDS] [-- bench options...]
# OLD_BENCH/NEW_BENCH are mxblas_bench binaries (each finds its own
# libmxblas through its rpath or LD_LIBRARY_PATH; give each build's folder
# first in LD_LIBRARY_PATH by wrapping it in a script if they share one).
# Writes OUT_DIR/{old,new}-R.json for each round R (default 2) and
# OUT_DIR/ab.md: per benchmark the fastest time of each build, new / old,
# and each build's path label.
set -uo pipefail
old=$1 new=$2 filter=$3 out=$4
rounds=${5:-2}
shift $(($# < 5 ? $# : 5))
[ "${1:-}" = "--" ] && shift
mkdir -p "$out"
rc=0
for r in $(seq 1 "$rounds"); do
  for side in old new; do
    bin=$old
    [ "$side" = new ] && bin=$new
    "$bin" --benchmark_filter="$filter" --benchmark_out="$out/$side-$r.json" --benchmark_out_format=json "$@" \
      >"$out/$side-$r.log" 2>&1 || rc=1
  done
done
python3 - "$out" "$rounds" <<'EOF' | tee "$out/ab.md"
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
best, label, order = {}, {}, []
for side in ("old", "new"):
    for r in range(1, rounds + 1):
        try:
            runs = json.load(open(f"{out}/{side}-{r}.json"))["benchmarks"]
        except (OSError, ValueError, KeyError):
            continue
        for b in runs:
            if b.get("run_type") == "aggregate" or "error_occurred" in b and b["error_occurred"]:
                continue
            name, t = b["name"], b["real_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
            if name not in order:
                order.append(name)
            key = (side, name)
            best[key] = min(best.get(key, t), t)
            label[key] = b.get("label", "")
print(f"| benchmark | old µs | new µs | new / old | old path | new path |")
print("|---|---|---|---|---|---|")
for n in order:
    o, w = best.get(("old", n)), best.get(("new", n))
    ratio = f"{w / o:.3f}" if o and w else "-"
    fo = f"{o:.1f}" if o else "-"
    fw = f"{w:.1f}" if w else "-"
    print(f"| {n} | {fo} | {fw} | {ratio} | {label.get(('old', n), '')} | {label.get(('new', n), '')} |")
EOF
exit $rc
