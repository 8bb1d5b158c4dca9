#!/usr/bin/env bash
# End-to-end tests of the mxblas tool on generated files.
#   bash tests/tools_test.sh build/mxblas
set -u
TOOL=$(realpath "${1:-build/mxblas}")
PY=${PYTHON:-python3}
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  echo "tools_test: numpy unavailable, skipped"; exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; sed 's/^/     /' "$T/out" "$T/err" 2>/dev/null | head -20; }
# expect CODE NAME CMD...: run CMD, compare its exit code
expect() {
  local want=$1 name=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" = "$want" ]; then ok "$name"; else echo "     exit $got, want $want"; bad "$name"; fi
}
# the last command's stderr mentions TEXT
mentions() { if grep -qF -- "$2" "$T/err"; then ok "$1"; else bad "$1 (stderr lacks '$2')"; fi; }

"$PY" - "$T" <<'EOF'
import sys, json, struct, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 256)).astype(np.float32)
x[:, 7] *= 50
np.save(f"{d}/x.npy", x)
np.save(f"{d}/x16.npy", x.astype(np.float16))
np.save(f"{d}/x3d.npy", x.reshape(4, 16, 256))
np.save(f"{d}/xbf16.npy", (x.view(np.uint32) >> 16).astype(np.uint16))
np.save(f"{d}/xf.npy", np.asfortranarray(x))
np.save(f"{d}/a.npy", rng.standard_normal((32, 64)).astype(np.float32))
np.save(f"{d}/b.npy", rng.standard_normal((64, 48)).astype(np.float32))
y = x.copy(); y[3, 4] = np.nextafter(y[3, 4], np.float32(np.inf))
np.save(f"{d}/y.npy", y)
h = json.dumps({"w": {"dtype": "F32", "shape": [64, 256], "data_offsets": [0, x.nbytes]},
                "ids": {"dtype": "I64", "shape": [2], "data_offsets": [x.nbytes, x.nbytes + 16]}}).encode()
open(f"{d}/m.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + x.tobytes() + bytes(16))
raw = open(f"{d}/x.npy", "rb").read()
open(f"{d}/trunc.npy", "wb").write(raw[:len(raw) - 100])
open(f"{d}/garbage.npy", "wb").write(b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', oops}          \n")
open(f"{d}/junk.bin", "wb").write(b"hello")
big = x.astype(np.float64); big[5, 9] = 1e300
np.save(f"{d}/big64.npy", big)
edge = x.astype(np.float64); edge[0, 0] = float(np.finfo(np.float32).max)
np.save(f"{d}/edge64.npy", edge)
EOF

# info and usage
expect 0 "info" "$TOOL" info
cp "$T/out" "$T/info"
grep -q "nvfp4" "$T/out" && grep -q "CUDA devices" "$T/out" && ok "info lists formats and devices" || bad "info content"
expect 0 "info --json parses" bash -c "'$TOOL' info --json | $PY -c 'import json,sys; d=json.load(sys.stdin); assert len(d[\"formats\"]) == 25'"
if grep -q "^CUDA devices: 0" "$T/info"; then
  expect 3 "--backend cuda without a device" "$TOOL" analyze "$T/x.npy" --backend cuda
  # a build with CUDA and no GPU says there is no device; a CPU-only build
  # says it was built without CUDA
  if grep -q "cuda=yes" "$T/info"; then
    mentions "no-device message" "no CUDA device"
  else
    mentions "built-without-CUDA message" "this build has no CUDA"
  fi
fi
expect 2 "no command is a usage error" "$TOOL"
expect 2 "unknown command" "$TOOL" frobnicate
expect 2 "unknown format" "$TOOL" analyze "$T/x.npy" --formats nvfp5
mentions "unknown format named" "nvfp5"
expect 2 "bad --round value" "$TOOL" quantize "$T/x.npy" --format nvfp4 --round up -o "$T/q"

# analyze: the table and --json (NDJSON)
expect 0 "analyze default table" "$TOOL" analyze "$T/x.npy"
cp "$T/out" "$T/table"
missing=""
for f in nvfp4 mxfp8_e4m3 mxfp4 mx6 mx9 fp8_e4m3; do
  grep -q "^x.npy  *64x256  *$f  *no  " "$T/out" || missing="$missing $f"
done
[ -z "$missing" ] && ok "analyze table has the six default formats" || bad "analyze table lacks$missing"
expect 0 "analyze --json without RHT" bash -c "'$TOOL' analyze '$T/x.npy' --json > '$T/a0.json'"
# --backend=auto takes a GPU where there is one, else the CPU: the same bytes
# either way (CPU = CUDA bit for bit)
expect 0 "analyze --backend=auto" bash -c "'$TOOL' analyze '$T/x.npy' --json --backend=auto > '$T/a0auto.json'"
cmp -s "$T/a0.json" "$T/a0auto.json" && ok "--backend=auto gives the CPU's bytes" || bad "--backend=auto output differs"
expect 2 "check A B refuses --backend=auto" "$TOOL" check "$T/x.npy" "$T/x.npy" --backend=auto
"$PY" - "$T/a0.json" "$T/table" <<'EOF2' >"$T/out" 2>"$T/err" && ok "analyze table shows the json's numbers" || bad "analyze table vs json"
import json, sys
# the printed table against --json
rows = {l.split()[2]: l.split() for l in open(sys.argv[2]) if l.split()[3:4] == ["no"]}
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["kind"] for l in lines] == ["tensor"] * 6 + ["summary"] * 6, lines
for r in lines[:6]:
    t = rows[r["format"]][2:]
    assert float(t[2]) == round(r["bits_per_element"], 3), (t, r)
    assert abs(float(t[3]) - r["sqnr_db"]) <= 0.005 + 1e-9, (t, r)
    assert abs(float(t[5]) - r["cosine"]) <= 5e-7 + 1e-12, (t, r)
    assert abs(float(t[7].rstrip("%")) - 100 * r["frac_flushed"]) <= 5e-4 + 1e-12, (t, r)
EOF2
expect 0 "analyze --rht --json parses" bash -c "'$TOOL' analyze '$T/x.npy' --rht --json > '$T/a.json'"
"$PY" - "$T/a.json" <<'EOF' >"$T/out" 2>"$T/err" && ok "analyze json content" || bad "analyze json content"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in r if x["kind"] == "tensor"]
assert len(r) == 12 and sum(x["rht"] for x in r) == 6, r
by = {(x["format"], x["rht"]): x for x in r}
# more bits, less error: MXFP8 beats NVFP4 beats MXFP4; MX9 beats MX6
assert by["mxfp8_e4m3", False]["sqnr_db"] > by["nvfp4", False]["sqnr_db"] > by["mxfp4", False]["sqnr_db"]
assert by["mx9", False]["sqnr_db"] > by["mx6", False]["sqnr_db"]
for x in r:
    assert (x["rows"], x["cols"]) == (64, 256)
    assert 0.9 < x["cosine"] <= 1.0 and x["count"] == 64 * 256, x
assert abs(by["nvfp4", False]["bits_per_element"] - (4 + 8 / 16 + 32 / (64 * 256))) < 1e-9
EOF
expect 0 "analyze safetensors --tensor" "$TOOL" analyze "$T/m.safetensors" --tensor w --formats nvfp4
expect 0 "analyze safetensors: every 2-D float tensor" "$TOOL" analyze "$T/m.safetensors" --formats nvfp4
grep -q "^w  *64x256  *nvfp4" "$T/out" && ! grep -q "^ids" "$T/out" && ok "the I64 tensor is left out" || bad "analyze m.safetensors rows"
expect 3 "unreadable dtype" "$TOOL" analyze "$T/m.safetensors" --tensor ids
mentions "names the reason" "1 not floating-point"
expect 0 "list" "$TOOL" list "$T/m.safetensors"
grep -q "ids" "$T/out" && ok "list shows every tensor" || bad "list content"

# Names from a file are escaped when printed: no escape sequence, carriage
# return or bell reaches the terminal, and --json stays valid JSON (with a
# path that is not UTF-8 too).
"$PY" - "$T" <<'EOF'
import json, struct, sys, numpy as np
d = sys.argv[1]
v = np.arange(4, dtype=np.float32).tobytes()
names = ["\x1b[31mred", "cr\rname", "bell\x07", "c1\u009b2J", "back\\slash", "ok_\u00e9"]
h = json.dumps({"__metadata__": {"k\x1b]0;title\x07": "v\x1b[2J"}} |
               {n: {"dtype": "F32", "shape": [4], "data_offsets": [16 * i, 16 * i + 16]}
                for i, n in enumerate(names)}).encode()
open(f"{d}/names.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + v * len(names))
EOF
# clean FILE...: only printable UTF-8 text, newlines and tabs
clean() {
  "$PY" - "$@" <<'EOF'
import sys
for p in sys.argv[1:]:
    b = open(p, "rb").read()
    t = b.decode("utf-8")  # raises on invalid UTF-8
    bad = [c for c in t if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) < 0xa0]
    assert not bad, (p, bad, t[:300])
EOF
}
expect 0 "list a file with hostile names" "$TOOL" list "$T/names.safetensors"
clean "$T/out" >/dev/null 2>&1 && ok "list output is clean text" || bad "list output has raw control characters"
grep -qF '\x1B[31mred' "$T/out" && grep -qF 'cr\rname' "$T/out" && grep -qF 'bell\x07' "$T/out" &&
  grep -qF '\u009b2J' "$T/out" && grep -qF 'back\\slash' "$T/out" && grep -qF 'ok_é' "$T/out" &&
  grep -qF 'meta k\x1B]0;title\x07 = v\x1B[2J' "$T/out" && ok "list shows the escaped names" || bad "list escapes"
expect 3 "analyze with a missing tensor name" "$TOOL" analyze "$T/names.safetensors" --tensor $'nope\e[1m'
clean "$T/err" >/dev/null 2>&1 && ok "error message is clean text" || bad "error message has raw control characters"
mentions "error message escapes both names" "not matching --tensor 'nope\\x1B[1m': \\x1B[31mred, cr\\rname"
expect 0 "check prints the names escaped" "$TOOL" check "$T/names.safetensors" "$T/names.safetensors"
clean "$T/out" >/dev/null 2>&1 && ok "check output is clean text" || bad "check output has raw control characters"
cp "$T/x.npy" "$T/"$'\xff\e[0m'".npy"
expect 0 "analyze --json with hostile tensor and path names" bash -c \
  "'$TOOL' analyze '$T/names.safetensors' --tensor $'\e[31mred' --all-tensors --formats mxfp8_e4m3 --json > '$T/n1.json' &&
   '$TOOL' analyze '$T/'$'\xff\e[0m''.npy' --formats mxfp8_e4m3 --json > '$T/n2.json'"
"$PY" - "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "--json stays valid JSON" || bad "--json with hostile names"
import json, sys
d = sys.argv[1]
a = json.loads(open(f"{d}/n1.json", "rb").read().decode("utf-8").splitlines()[0])
assert a["tensor"] == "\x1b[31mred", a["tensor"]
b = json.loads(open(f"{d}/n2.json", "rb").read().decode("utf-8").splitlines()[0])
assert b["file"].endswith("/\ufffd\x1b[0m.npy"), b["file"]
EOF

# quantize -> dequantize round trip, for several formats and inputs
for f in nvfp4 mxfp8_e4m3 mxfp4 mx6 mx9 fp8_e4m3 mxint8; do
  expect 0 "quantize $f" "$TOOL" quantize "$T/x.npy" --format "$f" -o "$T/q_$f.safetensors"
  expect 0 "dequantize $f" "$TOOL" dequantize "$T/q_$f.safetensors" -o "$T/d_$f.npy"
  "$PY" - "$T" "$f" <<'EOF' >"$T/out" 2>"$T/err" && ok "round trip $f error bounded" || bad "round trip $f"
import sys, numpy as np
d, f = sys.argv[1:]
x = np.load(f"{d}/x.npy").astype(np.float64); y = np.load(f"{d}/d_{f}.npy")
assert y.shape == x.shape and y.dtype == np.float32
sqnr = 10 * np.log10((x ** 2).sum() / ((x - y) ** 2).sum())
need = {"nvfp4": 10, "mxfp4": 8, "mx6": 15, "mx9": 30, "mxfp8_e4m3": 25, "fp8_e4m3": 20, "mxint8": 30}[f]
assert sqnr > need, (f, sqnr)
EOF
done
# same tensor from other files and dtypes gives the same planes
expect 0 "quantize 3-D input" "$TOOL" quantize "$T/x3d.npy" --format nvfp4 -o "$T/q3.safetensors"
expect 0 "3-D input is read as [prod, last]" "$TOOL" check "$T/q_nvfp4.safetensors" "$T/q3.safetensors"
expect 0 "quantize SR twice" "$TOOL" quantize "$T/x.npy" --format nvfp4 --round sr --seed 5 -o "$T/sr1.safetensors"
"$TOOL" quantize "$T/x.npy" --format nvfp4 --round sr --seed 5 -o "$T/sr2.safetensors" 2>/dev/null
"$TOOL" quantize "$T/x.npy" --format nvfp4 --round sr --seed 6 -o "$T/sr3.safetensors" 2>/dev/null
expect 0 "same seed, same bits" "$TOOL" check "$T/sr1.safetensors" "$T/sr2.safetensors"
expect 1 "other seed, other bits" "$TOOL" check "$T/sr1.safetensors" "$T/sr3.safetensors"
expect 0 "fp16 and bf16 inputs load" bash -c "'$TOOL' quantize '$T/x16.npy' --format mxfp8_e4m3 -o '$T/h.safetensors' && '$TOOL' quantize '$T/xbf16.npy' --format mxfp8_e4m3 -o '$T/b.safetensors'"
expect 0 "quantize --rht and dequantize back" bash -c "'$TOOL' quantize '$T/x.npy' --format nvfp4 --rht -o '$T/r.safetensors' && '$TOOL' dequantize '$T/r.safetensors' -o '$T/r.npy'"
"$PY" - "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "inverse RHT keeps the error of the transformed domain" || bad "RHT round trip"
import json, sys, numpy as np
d = sys.argv[1]
x = np.load(f"{d}/x.npy").astype(np.float64); y = np.load(f"{d}/r.npy").astype(np.float64)
# H is orthogonal: ||x - H^T q|| = ||Hx - q||, the error analyze measures against RHT(x),
# up to fp32 rounding of the two transforms (~1e-7 relative, far below 1e-3 dB here).
sqnr = 10 * np.log10((x ** 2).sum() / ((x - y) ** 2).sum())
want = [r for r in map(json.loads, open(f"{d}/a.json")) if r["kind"] == "tensor" and r["format"] == "nvfp4" and r["rht"]][0]
assert abs(sqnr - want["sqnr_db"]) < 1e-3, (sqnr, want["sqnr_db"])
EOF
expect 0 "dequantize --keep-rht" "$TOOL" dequantize "$T/r.safetensors" -o "$T/rk.npy" --keep-rht
"$PY" - "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "--keep-rht stays in the transformed domain" || bad "--keep-rht"
import sys, numpy as np
d = sys.argv[1]
a, b = np.load(f"{d}/r.npy"), np.load(f"{d}/rk.npy")
assert a.shape == b.shape and not np.array_equal(a, b)
# The 16-point transform keeps the norm of every aligned chunk of 16.
na = np.linalg.norm(a.reshape(-1, 16).astype(np.float64), axis=1)
nb = np.linalg.norm(b.reshape(-1, 16).astype(np.float64), axis=1)
assert np.allclose(na, nb, rtol=1e-5, atol=0), np.abs(na - nb).max()
EOF
# options a format does not offer: the library's refusal, exit 3 with its detail
expect 3 "stochastic rounding refused for mx6" "$TOOL" quantize "$T/x.npy" --format mx6 --round sr -o "$T/o.safetensors"
mentions "SR refusal names the format" "stochastic rounding is not offered for mx6"
expect 3 "--2d refused for mx6" "$TOOL" quantize "$T/x.npy" --format mx6 --2d -o "$T/o.safetensors"
mentions "2D refusal names the formats that have it" "NVFP4 (16x16) and the MX formats (32x32) only, not mx6"
expect 0 "--2d for mxfp8 (32x32 tiles)" "$TOOL" quantize "$T/x.npy" --format mxfp8_e4m3 --2d -o "$T/o.safetensors"
expect 3 "--four-over-six refused for mxfp4" "$TOOL" quantize "$T/x.npy" --format mxfp4 --four-over-six=mse -o "$T/o.safetensors"
mentions "4/6 refusal names the format" "NVFP4 only"
# --compat: another library's bytes (docs/COMPAT.md), recorded in the container; refused off its formats
expect 0 "quantize --compat microxcaling" "$TOOL" quantize "$T/x.npy" --format mxint8 --compat microxcaling -o "$T/qc.safetensors"
grep -q '"mxblas.compat":"microxcaling"' "$T/qc.safetensors" && ok "--compat is in the metadata" || bad "--compat metadata"
expect 3 "--compat te refused for mx6" "$TOOL" quantize "$T/x.npy" --format mx6 --compat te -o "$T/o.safetensors"
mentions "--compat refusal names the format" "the te profile has no mx6"
expect 2 "bad --compat value" "$TOOL" quantize "$T/x.npy" --format nvfp4 --compat cublas -o "$T/o.safetensors"
expect 2 "--four-over-six takes mse or mae" "$TOOL" quantize "$T/x.npy" --format nvfp4 --four-over-six=rmse -o "$T/o.safetensors"
expect 2 "--four-over-six does not apply to dequantize" "$TOOL" dequantize "$T/o.safetensors" --four-over-six=mse -o "$T/o.npy"
# Four Over Six: blocks scaled to 4 (frac_scaled_to_4 > 0), a higher SQNR than plain NVFP4
# --four-over-six gives NVFP4 a row each way (other formats one), in the table, NDJSON and CSV
expect 0 "analyze --four-over-six" bash -c "'$TOOL' analyze '$T/x.npy' --formats=nvfp4,mxfp8_e4m3 --four-over-six=mse --json > '$T/a46.json'"
"$PY" - "$T" <<'EOF2' >"$T/out" 2>"$T/err" && ok "analyze --four-over-six: a row each way, blocks at 4, SQNR up" || bad "analyze --four-over-six"
import json, sys
d = sys.argv[1]
r = [x for x in map(json.loads, open(f"{d}/a46.json")) if x["kind"] == "tensor"]
assert [(x["format"], x["four_over_six"]) for x in r] == [("nvfp4", "off"), ("nvfp4", "mse"), ("mxfp8_e4m3", "off")], r
a6, a46 = r[0], r[1]
assert a6["frac_scaled_to_4"] == 0 and 0 < a46["frac_scaled_to_4"] < 1, (a6["frac_scaled_to_4"], a46["frac_scaled_to_4"])
assert a46["sqnr_db"] > a6["sqnr_db"], (a46["sqnr_db"], a6["sqnr_db"])
EOF2
expect 0 "analyze --four-over-six table" "$TOOL" analyze "$T/x.npy" --formats=nvfp4 --four-over-six=mae
grep -q "nvfp4+4/6 .*% of blocks at 4" "$T/out" && grep -q "^+4/6: Four Over Six" "$T/out" && ok "the table names the 4/6 row and its blocks at 4" || bad "4/6 table row"
expect 0 "analyze --four-over-six --csv" bash -c "'$TOOL' analyze '$T/x.npy' --formats=nvfp4 --four-over-six=mae --csv | cut -d, -f5-7 > '$T/a46.csv'"
[ "$(tr '\n' ' ' < "$T/a46.csv")" = "format,rht,four_over_six nvfp4,0,off nvfp4,0,mae " ] && ok "CSV has the four_over_six column" || bad "CSV four_over_six column: $(cat "$T/a46.csv")"
# --e4m3-max=256: NVFP4 gets a row with each bound (with Four Over Six: four rows), other formats one;
# under 256 the 4/6 choice takes at least as many blocks to 4 (no 4 candidate saturates)
expect 0 "analyze --e4m3-max=256" bash -c "'$TOOL' analyze '$T/x.npy' --formats=nvfp4,mxfp4 --four-over-six=mse --e4m3-max=256 --json > '$T/a256.json'"
"$PY" - "$T" <<'EOF2' >"$T/out" 2>"$T/err" && ok "analyze --e4m3-max=256: a row each bound" || bad "analyze --e4m3-max=256: $(cat "$T/err")"
import json, sys
d = sys.argv[1]
r = [x for x in map(json.loads, open(f"{d}/a256.json")) if x["kind"] == "tensor"]
assert [(x["format"], x["four_over_six"], x["e4m3_max"]) for x in r] == [
    ("nvfp4", "off", 448), ("nvfp4", "mse", 448), ("nvfp4", "off", 256), ("nvfp4", "mse", 256), ("mxfp4", "off", 0)], r
assert all("error" not in x for x in r), r
# both bounds take some blocks to 4, and the bound changes the bytes (another SQNR)
assert 0 < r[1]["frac_scaled_to_4"] < 1 and 0 < r[3]["frac_scaled_to_4"] < 1, (r[1], r[3])
assert r[2]["sqnr_db"] != r[0]["sqnr_db"], (r[0]["sqnr_db"], r[2]["sqnr_db"])
EOF2
expect 0 "analyze --e4m3-max=256 table" "$TOOL" analyze "$T/x.npy" --formats=nvfp4 --e4m3-max=256
grep -q " nvfp4/256 " "$T/out" && grep -q "^/256: NVFP4" "$T/out" && ok "the table names the /256 row" || bad "/256 table row: $(cat "$T/out")"
expect 2 "analyze --e4m3-max=300" "$TOOL" analyze "$T/x.npy" --formats=nvfp4 --e4m3-max=300
# quantize --e4m3-max=256 stores the flag; dequantize reads it back (the values within NVFP4's error)
expect 0 "quantize --e4m3-max=256" "$TOOL" quantize "$T/x.npy" --format nvfp4 --e4m3-max=256 -o "$T/q256.safetensors"
expect 0 "dequantize the 256 container" "$TOOL" dequantize "$T/q256.safetensors" -o "$T/d256.npy"
"$PY" - "$T" <<'EOF2' >"$T/out" 2>"$T/err" && ok "the 256 container keeps its flag and decodes near x" || bad "256 container: $(cat "$T/err")"
import json, struct, sys
import numpy as np
d = sys.argv[1]
raw = open(f"{d}/q256.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
meta = json.loads(raw[8:8 + n])["__metadata__"]
assert meta["mxblas.flags"] == "4", meta
x, y = np.load(f"{d}/x.npy"), np.load(f"{d}/d256.npy")
assert x.shape == y.shape and np.abs(x - y).max() <= 0.25 * np.abs(x).max(), np.abs(x - y).max()
EOF2
# --row-amax: an amax plane of one value a row (flag 8) that dequantize reads; analyze gives NVFP4 a row each way
expect 0 "quantize --row-amax" "$TOOL" quantize "$T/x.npy" --format nvfp4 --row-amax -o "$T/qrow.safetensors"
expect 0 "dequantize the per-row container" "$TOOL" dequantize "$T/qrow.safetensors" -o "$T/drow.npy"
expect 0 "analyze --row-amax" bash -c "'$TOOL' analyze '$T/x.npy' --formats=nvfp4,mxfp4 --row-amax --json > '$T/arow.json'"
"$PY" - "$T" <<'EOF2' >"$T/out" 2>"$T/err" && ok "the per-row container holds an amax a row; analyze has its row" || bad "per-row: $(cat "$T/err")"
import json, struct, sys
import numpy as np
d = sys.argv[1]
raw = open(f"{d}/qrow.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
assert head["__metadata__"]["mxblas.flags"] == "8", head["__metadata__"]
x, y = np.load(f"{d}/x.npy"), np.load(f"{d}/drow.npy")
assert head["amax"]["shape"] == [x.shape[0]], head["amax"]
b, e = head["amax"]["data_offsets"]
amax = np.frombuffer(raw[8 + n + b:8 + n + e], np.float32)
assert np.array_equal(amax, np.abs(x).max(axis=1)), amax[:4]
assert np.abs(x - y).max() <= 0.25 * np.abs(x).max(), np.abs(x - y).max()
r = [json.loads(l) for l in open(f"{d}/arow.json") if '"kind": "tensor"' in l]
assert [(z["format"], z["row_amax"]) for z in r] == [("nvfp4", False), ("nvfp4", True), ("mxfp4", False)], r
assert all("error" not in z for z in r), r
EOF2
# --compat: analyze gives each format the profile has a row of that library's bytes
expect 0 "analyze --compat" bash -c "'$TOOL' analyze '$T/x.npy' --formats=mxfp4,mx6,mxint8 --compat microxcaling --json > '$T/acompat.json'"
"$PY" - "$T" <<'EOF2' >"$T/out" 2>"$T/err" && ok "analyze --compat: a row more per format the profile has" || bad "analyze --compat: $(cat "$T/err")"
import json, sys
r = [json.loads(l) for l in open(f"{sys.argv[1]}/acompat.json") if '"kind": "tensor"' in l]
assert [(z["format"], z["compat"]) for z in r] == [("mxfp4", "mxblas"), ("mxfp4", "microxcaling"), ("mx6", "mxblas"),
                                                   ("mxint8", "mxblas"), ("mxint8", "microxcaling")], r
assert all("error" not in z for z in r), r
assert r[0]["sqnr_db"] != r[1]["sqnr_db"], r  # FLOOR-like scales and ties away: other bytes
EOF2
expect 3 "--row-amax refused for mxfp8" "$TOOL" quantize "$T/x.npy" --format mxfp8_e4m3 --row-amax -o "$T/o.safetensors"

# check
expect 0 "check golden" "$TOOL" check golden
grep -q "golden checks passed" "$T/out" && ok "check golden reports" || bad "check golden output"
expect 0 "check identical files" "$TOOL" check "$T/x.npy" "$T/x.npy"
expect 1 "check one-ulp difference" "$TOOL" check "$T/x.npy" "$T/y.npy"
grep -q "1 of 16384" "$T/out" && ok "check counts the mismatch" || bad "check mismatch count"
expect 0 "check within --max-abs" "$TOOL" check "$T/x.npy" "$T/y.npy" --max-abs 1e-5
expect 1 "check shape mismatch" "$TOOL" check "$T/x.npy" "$T/a.npy"
expect 2 "check bad --max-abs" "$TOOL" check "$T/x.npy" "$T/y.npy" --max-abs -1

# gemm
expect 0 "gemm exact" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format mxfp8_e4m3 -o "$T/c.npy"
grep -q "implementation:" "$T/out" && ok "gemm names the implementation" || bad "gemm output"
"$PY" - "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "gemm result close to fp64" || bad "gemm result"
import sys, numpy as np
d = sys.argv[1]
a, b, c = np.load(f"{d}/a.npy"), np.load(f"{d}/b.npy"), np.load(f"{d}/c.npy")
ref = a.astype(np.float64) @ b.astype(np.float64)
assert c.shape == (32, 48)
assert np.linalg.norm(c - ref) / np.linalg.norm(ref) < 0.05
EOF
expect 3 "gemm shapes that do not chain" "$TOOL" gemm "$T/a.npy" "$T/a.npy" --format nvfp4
# gemm's memory is bounded by --max-memory (default 1 GiB), checked before
# anything is allocated: two 64 KiB files, A [16384, 1] and B [1, 16384],
# ask for a 1 GiB product (and took 3.1 GB and 17 s without the bound).
"$PY" - "$T" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
np.save(f"{d}/tall.npy", np.ones((16384, 1), np.float32))
np.save(f"{d}/wide.npy", np.ones((1, 16384), np.float32))
EOF
expect 3 "gemm over the default memory limit is refused" timeout 5 "$TOOL" gemm "$T/tall.npy" "$T/wide.npy" --format mxfp8_e4m3
mentions "the refusal names the limit" "above the --max-memory limit of 1073741824 bytes"
expect 3 "gemm over a given limit is refused" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format mxfp8_e4m3 --max-memory 16K
mentions "the refusal gives the need" "gemm needs about"
expect 0 "gemm within a given limit" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format mxfp8_e4m3 --max-memory 1M -o "$T/c1.npy"
expect 0 "the same product" cmp "$T/c.npy" "$T/c1.npy"
expect 2 "bad --max-memory" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format nvfp4 --max-memory 12Q

# malformed and truncated files: exit 3 with a message
expect 3 "truncated .npy" "$TOOL" analyze "$T/trunc.npy"
mentions "truncated message" "truncated"
expect 3 "malformed .npy header" "$TOOL" analyze "$T/garbage.npy"
mentions "malformed message" "malformed"
expect 3 "an f8 value beyond fp32 is refused, not read as Inf" "$TOOL" analyze "$T/big64.npy"
mentions "the refusal names the element" "element 1289"
expect 0 "an f8 value of FLT_MAX is read" "$TOOL" analyze "$T/edge64.npy"
expect 3 "Fortran order" "$TOOL" analyze "$T/xf.npy"
mentions "Fortran message" "Fortran"
expect 3 "not a tensor file" "$TOOL" analyze "$T/junk.bin"
mentions "junk message" "not a .npy or safetensors"
expect 3 "missing file" "$TOOL" quantize "$T/absent.npy" --format nvfp4 -o "$T/o"
mentions "missing file message" "No such file"
expect 3 "dequantize a non-container" "$TOOL" dequantize "$T/m.safetensors" -o "$T/o.npy"
mentions "container message" "not an mxblas container"
head -c 300 "$T/q_nvfp4.safetensors" > "$T/qt.safetensors"
expect 3 "dequantize a truncated container" "$TOOL" dequantize "$T/qt.safetensors" -o "$T/o.npy"

# Forged containers: metadata and planes are checked against the format and
# the file's real sizes before anything is allocated or decoded.
expect 0 "quantize mor" "$TOOL" quantize "$T/x.npy" --format mor_1x128 -o "$T/q_mor.safetensors"
expect 0 "dequantize mor" "$TOOL" dequantize "$T/q_mor.safetensors" -o "$T/d_mor.npy"
# forge NAME SRC KEY=VALUE...: a copy of container SRC with metadata changed;
# plane:NAME=DTYPE retypes a plane, aux[I]=B sets a byte of the aux plane
forge() {
  "$PY" - "$T" "$@" <<'EOF'
import json, struct, sys
d, name, src, *edits = sys.argv[1:]
b = open(f"{d}/{src}", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = bytearray(b[8 + n:])
for e in edits:
    k, v = e.split("=", 1)
    if k.startswith("plane:"):
        h[k[6:]]["dtype"] = v
        h[k[6:]]["shape"] = [h[k[6:]]["data_offsets"][1] - h[k[6:]]["data_offsets"][0]]
    elif k.startswith("aux["):
        data[h["aux"]["data_offsets"][0] + int(k[4:-1])] = int(v)
    else:
        h["__metadata__"][k] = v
h = json.dumps(h).encode()
open(f"{d}/{name}", "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))
EOF
}
forged() { # forged NAME WANT_MESSAGE SRC EDITS...: dequantize refuses it, saying WANT
  local name=$1 want=$2; shift 2
  forge f.safetensors "$@"
  expect 3 "dequantize refuses $name" "$TOOL" dequantize "$T/f.safetensors" -o "$T/o.npy"
  mentions "$name: message" "$want"
}
forged "flags -1zz" "mxblas.flags '-1zz' is not" q_nvfp4.safetensors mxblas.flags=-1zz
forged "an undefined flag" "mxblas.flags '16' is not" q_nvfp4.safetensors mxblas.flags=16
forged "2D flag on mx6" "2D scales (flag 1) exist for nvfp4 and the MX formats only" q_mx6.safetensors mxblas.flags=1
forged "bound-256 flag on mxfp8" "the E4M3 bound 256 (flag 4) exists for nvfp4 only" q_mxfp8_e4m3.safetensors mxblas.flags=4
# MX 2D tile scales are a flag the MX formats carry: quantize --2d, then dequantize, round trip
expect 0 "quantize mxfp8 --2d" "$TOOL" quantize "$T/x.npy" --format mxfp8_e4m3 --2d -o "$T/q_mx2d.safetensors"
expect 0 "dequantize the mxfp8 2D container" "$TOOL" dequantize "$T/q_mx2d.safetensors" -o "$T/d_mx2d.npy"
forged "RHT flag on mor" "mor_1x128 is never stored transformed" q_mor.safetensors mxblas.flags=2
forged "rows ' 64'" "mxblas.rows ' 64' is not" q_nvfp4.safetensors "mxblas.rows= 64"
forged "rows larger than the planes" "plane 'data' has 8192 bytes, nvfp4 [128, 256] needs 16384" \
  q_nvfp4.safetensors mxblas.rows=128
forged "a 2^40-element shape over a few KiB" "plane 'data' has 8192 bytes, nvfp4 [1048576, 1048576] needs 549755813888" \
  q_nvfp4.safetensors mxblas.rows=1048576 mxblas.cols=1048576
if grep -q "allocation failed: *$" "$T/err"; then bad "an allocation failure without a detail"; else ok "no empty detail"; fi
forged "a retyped plane" "plane 'amax' is U8, nvfp4 needs F32" q_nvfp4.safetensors plane:amax=U8
forged "MoR decision byte 2" "aux byte 3 is 2 (MoR decisions are 0 or 1)" q_mor.safetensors "aux[3]=2"
forge f.safetensors q_nvfp4.safetensors mxblas.flags=1
expect 0 "2D flag on nvfp4 is accepted" "$TOOL" dequantize "$T/f.safetensors" -o "$T/o.npy"
# a file that is neither format: no garbage header length in the message
printf 'hello, this is a text file\n' > "$T/text.txt"
expect 3 "a text file" "$TOOL" analyze "$T/text.txt"
mentions "text file message" "not a .npy or safetensors file"
if grep -q "header length" "$T/err"; then bad "text file: reports a header length"; else ok "text file: no header length"; fi
# Output files are replaced atomically. A write that fails (here: the file
# size limit of 4 KiB, below every output's size) leaves the old file as it
# was and no temporary file behind.
mkdir "$T/w"
cp "$T/q_nvfp4.safetensors" "$T/w/q.safetensors"
cp "$T/d_nvfp4.npy" "$T/w/d.npy"
cp "$T/c.npy" "$T/w/c.npy"
chmod 640 "$T/w/q.safetensors"
# failed_write NAME FILE CMD...: CMD (writing FILE) fails under the limit
failed_write() {
  local name=$1 file=$2; shift 2
  cp "$file" "$T/before"
  expect 3 "$name: write error is an error" bash -c 'ulimit -f 4; exec "$@"' _ "$@"
  mentions "$name: message names the cause" "File too large"
  cmp -s "$file" "$T/before" && ok "$name: old file unchanged" || bad "$name: old file changed"
  [ "$(ls -A "$T/w" | wc -l)" = 3 ] && ok "$name: no temporary file left" || bad "$name: files left: $(ls -A "$T/w")"
}
failed_write "quantize -o" "$T/w/q.safetensors" "$TOOL" quantize "$T/x.npy" --format mxfp8_e4m3 -o "$T/w/q.safetensors"
failed_write "dequantize -o" "$T/w/d.npy" "$TOOL" dequantize "$T/q_mxfp8_e4m3.safetensors" -o "$T/w/d.npy"
failed_write "gemm -o" "$T/w/c.npy" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format nvfp4 -o "$T/w/c.npy"
# a successful write replaces the file and keeps its permissions
expect 0 "quantize over an existing file" "$TOOL" quantize "$T/x.npy" --format mxfp8_e4m3 -o "$T/w/q.safetensors"
cmp -s "$T/w/q.safetensors" "$T/q_mxfp8_e4m3.safetensors" && ok "the new file replaced the old" || bad "replaced content"
[ "$(stat -c %a "$T/w/q.safetensors")" = 640 ] && ok "permissions kept" || bad "permissions $(stat -c %a "$T/w/q.safetensors")"
[ "$(ls -A "$T/w" | wc -l)" = 3 ] && ok "no temporary file after success" || bad "files left: $(ls -A "$T/w")"
# a destination that is not a regular file (a pipe) is written in place
mkfifo "$T/fifo"
timeout 10 cat "$T/fifo" > "$T/from_fifo" &
expect 0 "dequantize into a pipe" timeout 10 "$TOOL" dequantize "$T/q_nvfp4.safetensors" -o "$T/fifo"
wait
cmp -s "$T/from_fifo" "$T/d_nvfp4.npy" && ok "the pipe got the file" || bad "pipe content"
[ -p "$T/fifo" ] && ok "the pipe is still a pipe" || bad "the pipe was replaced"

# Large headers parse in O(n log n): a 1M-key __metadata__ (13 MB of header)
# and 100k tensors each list in well under a second; a parser with a linear
# duplicate search per key takes minutes (100k keys: 39 s, 100k tensors: 73 s).
"$PY" - "$T" <<'EOF'
import json, struct, sys
d = sys.argv[1]
def st(path, hdr, data=b""):
    h = json.dumps(hdr, separators=(",", ":")).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
st(f"{d}/meta1m.safetensors", {"__metadata__": {f"k{i}": str(i) for i in range(1000000)}})
n = 100000
st(f"{d}/t100k.safetensors",
   {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]} for i in range(n)}, bytes(n))
EOF
# list_within NAME FILE WANT_PATTERN WANT_COUNT: list under a 5 s limit, count the lines
list_within() {
  local t0; t0=$(date +%s.%N)
  expect 0 "list $1 within 5 s" timeout 5 "$TOOL" list "$2"
  echo "     ($(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $t0 }") s)"
  [ "$(grep -c -- "$3" "$T/out")" = "$4" ] && ok "list $1 shows all $4" || bad "list $1 count"
}
list_within "1M metadata keys" "$T/meta1m.safetensors" '^  meta k[0-9]* = [0-9]' 1000000
list_within "100k tensors" "$T/t100k.safetensors" '^t[0-9]' 100000
# check reads each header once, not once per tensor
expect 0 "check 100k tensors within 5 s" timeout 5 "$TOOL" check "$T/t100k.safetensors" "$T/t100k.safetensors"
[ "$(grep -c 'bit-identical' "$T/out")" = 100000 ] && ok "check compares all 100k" || bad "check 100k count"

# The argument parser: --opt=value, per-command --help, options that do not
# apply to a command are refused, and the help text is the reference in
# docs/CLI.md.
expect 0 "--opt=value" "$TOOL" analyze "$T/x.npy" --formats=nvfp4 --round=rne
expect 0 "--opt value" "$TOOL" analyze "$T/x.npy" --formats nvfp4
expect 2 "an option of another command" "$TOOL" analyze "$T/x.npy" --max-abs 1
mentions "refusal names it" "option --max-abs does not apply to analyze"
expect 2 "check golden refuses quantization options" "$TOOL" check golden --json --rht --2d --round sr
mentions "check golden refusal" "option --rht does not apply to check"
expect 2 "check golden refuses --max-abs" "$TOOL" check golden --max-abs 1
expect 2 "check A B refuses --json" "$TOOL" check "$T/x.npy" "$T/x.npy" --json
expect 2 "a flag given a value" "$TOOL" analyze "$T/x.npy" --json=yes
mentions "flag refusal" "option --json takes no value"
expect 2 "a missing value" "$TOOL" quantize "$T/x.npy" -o "$T/q.safetensors" --format
mentions "missing value" "option --format needs a value"
expect 2 "an unknown option" "$TOOL" list "$T/x.npy" --frobnicate
expect 2 "too many arguments" "$TOOL" list "$T/x.npy" "$T/x.npy"
expect 2 "gemm has no --tensor (it has --tensor-a and --tensor-b)" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format nvfp4 --tensor w
expect 2 "--json and --csv together" "$TOOL" analyze "$T/x.npy" --json --csv
expect 0 "mxblas help" "$TOOL" help
cp "$T/out" "$T/help_all"
for c in info list analyze quantize dequantize check gemm demo corpus; do
  expect 0 "$c --help" "$TOOL" "$c" --help
  "$TOOL" help "$c" > "$T/help2"
  cmp -s "$T/out" "$T/help2" && ok "help $c is $c --help" || bad "help $c differs from $c --help"
  cp "$T/out" "$T/help_$c"
done
grep -q -- "--all-tensors" "$T/help_analyze" && ! grep -q -- "--max-abs" "$T/help_analyze" && ok "analyze --help lists its options only" || bad "analyze --help content"
# docs/CLI.md holds every help text verbatim, under "<!-- mxblas help CMD -->"
DOCS=$(dirname "$0")/../docs/CLI.md
"$PY" - "$DOCS" "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "docs/CLI.md reference matches the help" || bad "docs/CLI.md reference differs from the help (run tools/update_cli_docs.py)"
import re, sys
doc, d = open(sys.argv[1]).read(), sys.argv[2]
for c in ["all", "info", "list", "analyze", "quantize", "dequantize", "check", "gemm", "demo", "corpus"]:
    m = re.search(r"<!-- mxblas help %s -->\n```\n(.*?)```\n" % c, doc, re.S)
    assert m, f"no help block for {c}"
    assert m.group(1) == open(f"{d}/help_{c}").read(), f"help block for {c} differs"
EOF

# gemm: tensors of A and B by name, and B as [N, K] (a PyTorch Linear weight)
"$PY" - "$T" <<'EOF'
import sys, json, struct, numpy as np
d = sys.argv[1]
a, b = np.load(f"{d}/a.npy"), np.load(f"{d}/b.npy")
np.save(f"{d}/bt.npy", np.ascontiguousarray(b.T))
def st(path, tensors):
    h, off, data = {}, 0, b""
    for k, v in tensors.items():
        h[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes; data += v.tobytes()
    hb = json.dumps(h).encode()
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + data)
st(f"{d}/ab.safetensors", {"act": a, "proj.weight": np.ascontiguousarray(b.T)})
EOF
expect 0 "gemm --b-layout nk" "$TOOL" gemm "$T/a.npy" "$T/bt.npy" --format mxfp8_e4m3 --b-layout=nk -o "$T/c_nk.npy"
expect 0 "--b-layout nk: the same product as B [K, N]" cmp "$T/c.npy" "$T/c_nk.npy"
expect 0 "gemm --tensor-a --tensor-b" "$TOOL" gemm "$T/ab.safetensors" "$T/ab.safetensors" --tensor-a act \
  --tensor-b proj.weight --b-layout nk --format mxfp8_e4m3 -o "$T/c_st.npy"
expect 0 "tensors by name: the same product" cmp "$T/c.npy" "$T/c_st.npy"
expect 3 "gemm --b-layout nk with B [K, N] does not chain" "$TOOL" gemm "$T/a.npy" "$T/b.npy" --format nvfp4 --b-layout nk
mentions "the layout is named" "--b-layout nk: B is [N, K]"

# analyze on checkpoints: a file of many tensors, a sharded index, a directory
mkdir -p "$T/ckpt"
"$PY" - "$T/ckpt" <<'EOF'
import sys, json, struct, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
def st(path, tensors):
    h, off, data = {"__metadata__": {"format": "pt"}}, 0, b""
    for k, v in tensors.items():
        dt = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(v.dtype)]
        h[k] = {"dtype": dt, "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes; data += v.tobytes()
    hb = json.dumps(h).encode()
    open(f"{d}/{path}", "wb").write(struct.pack("<Q", len(hb)) + hb + data)
    return {k: path for k in tensors}
w = lambda r, c, s: (rng.standard_normal((r, c)) * s).astype(np.float32)
m1 = st("model-00001-of-00002.safetensors", {
    "model.layers.0.self_attn.q_proj.weight": w(32, 128, 0.02),
    "model.layers.0.mlp.up_proj.weight": w(64, 128, 0.02).astype(np.float16),
    "model.layers.0.input_layernorm.weight": np.ones(128, np.float32),
    "model.position_ids": np.arange(8)})
out = w(16, 128, 0.02); out[:, 5] *= 100  # an outlier channel: the worst tensor
m2 = st("model-00002-of-00002.safetensors", {
    "model.layers.1.self_attn.q_proj.weight": w(32, 128, 0.05),
    "model.layers.1.mlp.down_proj.weight": out})
json.dump({"metadata": {"total_size": 0}, "weight_map": m1 | m2}, open(f"{d}/model.safetensors.index.json", "w"))
EOF
expect 0 "analyze a sharded index" "$TOOL" analyze "$T/ckpt/model.safetensors.index.json" --formats nvfp4,mxfp8_e4m3
[ "$(grep -c '_proj.weight ' "$T/out")" = 8 ] && ok "every 2-D weight of both shards, each format" || bad "index rows"
grep -q "layernorm\|position_ids" "$T/out" && bad "1-D and integer tensors are left out" || ok "1-D and integer tensors are left out"
grep -q "^summary over 4 tensors" "$T/out" && grep -q "^mxfp8_e4m3  .*model.layers.1.mlp.down_proj.weight$" "$T/out" &&
  ok "the summary names the worst tensor" || bad "analyze summary"
cp "$T/out" "$T/index_table"
expect 0 "analyze a directory reads its index" "$TOOL" analyze "$T/ckpt" --formats nvfp4,mxfp8_e4m3
tail -n +2 "$T/out" > "$T/dir_table"; tail -n +2 "$T/index_table" > "$T/idx_table2"
cmp -s "$T/dir_table" "$T/idx_table2" && ok "directory and index give the same rows" || bad "directory vs index"
expect 0 "analyze --all-tensors" "$TOOL" analyze "$T/ckpt" --formats nvfp4 --all-tensors
grep -q "input_layernorm.weight  *1x128 " "$T/out" && ok "--all-tensors takes the 1-D tensor" || bad "--all-tensors"
expect 0 "analyze --tensor globs" "$TOOL" analyze "$T/ckpt" --formats nvfp4 --tensor '*.q_proj.*' --tensor '*down*'
[ "$(grep -c '_proj.weight ' "$T/out")" = 3 ] && ! grep -q up_proj "$T/out" && ok "globs select 3 tensors" || bad "globs"
expect 0 "analyze --sort=sqnr" "$TOOL" analyze "$T/ckpt" --formats nvfp4,mxfp8_e4m3 --sort=sqnr
awk '/^model/ { print $6 }' "$T/out" > "$T/sq"
sort -g -c "$T/sq" && [ "$(wc -l < "$T/sq")" = 8 ] && ok "rows sorted worst SQNR first" || bad "--sort=sqnr order"
expect 0 "analyze --json (NDJSON)" bash -c "'$TOOL' analyze '$T/ckpt' --formats nvfp4,mxfp8_e4m3 --json > '$T/ck.ndjson'"
expect 0 "analyze --csv" bash -c "'$TOOL' analyze '$T/ckpt' --formats nvfp4,mxfp8_e4m3 --csv > '$T/ck.csv'"
"$PY" - "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "NDJSON and CSV agree, summaries are right" || bad "NDJSON/CSV content"
import csv, json, math, sys
d = sys.argv[1]
lines = [json.loads(l) for l in open(f"{d}/ck.ndjson")]
rows = [l for l in lines if l["kind"] == "tensor"]
sums = {l["format"]: l for l in lines if l["kind"] == "summary"}
assert len(rows) == 8 and len(sums) == 2
c = list(csv.DictReader(open(f"{d}/ck.csv")))
assert len(c) == 8
for j, r in zip(rows, c):
    assert (j["tensor"], j["format"]) == (r["tensor"], r["format"])
    assert abs(float(r["sqnr_db"]) - j["sqnr_db"]) <= 1e-6 * abs(j["sqnr_db"])
for f, s in sums.items():
    mine = [r for r in rows if r["format"] == f]
    err = sum(r["mse"] * r["count"] for r in mine)
    sig = sum(r["mse"] * r["count"] / r["nmse"] for r in mine)
    assert abs(s["sqnr_db"] - 10 * math.log10(sig / err)) < 1e-6, (s, sig, err)
    worst = min(mine, key=lambda r: r["sqnr_db"])
    assert s["worst_tensor"] == worst["tensor"] and s["min_sqnr_db"] == worst["sqnr_db"]
    assert s["tensors"] == 4 and s["values"] == 32 * 128 * 2 + 64 * 128 + 16 * 128
EOF
"$PY" - "$T/ckpt" <<'EOF'
import json, sys
d = sys.argv[1]
ix = json.load(open(f"{d}/model.safetensors.index.json"))
ix["weight_map"]["model.layers.0.mlp.up_proj.weight"] = "model-00002-of-00002.safetensors"
json.dump(ix, open(f"{d}/bad.index.json", "w"))
json.dump({"weight_map": {"x": "../x.safetensors"}}, open(f"{d}/evil.index.json", "w"))
EOF
expect 3 "an index that maps a tensor to the wrong shard" "$TOOL" analyze "$T/ckpt/bad.index.json"
mentions "the wrong shard is named" "maps 'model.layers.0.mlp.up_proj.weight' to model-00002-of-00002.safetensors"
expect 3 "an index naming a shard outside its directory" "$TOOL" analyze "$T/ckpt/evil.index.json"
printf '{"metadata": {"total_size": 1}, "weight_map": {"a": "b.safetensors", ' > "$T/ckpt/trunc.index.json"
expect 3 "a truncated index" "$TOOL" analyze "$T/ckpt/trunc.index.json"
mentions "truncated index message" "not a safetensors index"
printf '{"metadata": [1, {"x": [true, null, -2.5e3]}], "weight_map": {}}' > "$T/ckpt/empty.index.json"
expect 3 "an index of no tensors" "$TOOL" analyze "$T/ckpt/empty.index.json"
mentions "empty index message" "no tensor to analyze"
# progress: nothing on stderr when it is not a terminal; a bar with an ETA on one
expect 0 "no progress when stderr is not a terminal" "$TOOL" analyze "$T/ckpt" --formats nvfp4
[ ! -s "$T/err" ] && ok "stderr is empty" || bad "progress printed without a terminal"
if command -v script >/dev/null; then
  script -qec "'$TOOL' analyze '$T/ckpt' --formats nvfp4 >/dev/null" /dev/null > "$T/tty" 2>&1
  grep -q "ETA" "$T/tty" && grep -q "4/4" "$T/tty" && ok "a progress bar with ETA on a terminal" || bad "no progress bar on a terminal"
fi

# make demo's table: BF16 first, then the recipes, explained
expect 0 "demo" "$TOOL" demo
awk '/^recipe/ { getline; print $1; exit }' "$T/out" | grep -qx bf16 && ok "demo: BF16 is the first row" || bad "demo: first row"
for r in "mxfp4 + RHT" "nvfp4 + RHT" "nvfp4, W 2D" "nvfp4 + SR" "mor_1x128" "fp8 1x128/128x128" "fp8 blocks, ue8m0"; do
  grep -q "^$r  .*%" "$T/out" || { bad "demo lacks the row '$r'"; continue; }; ok "demo row $r"
done
grep -q "The NVFP4 error is expected" "$T/out" && grep -q "X flushed  non-zero values" "$T/out" &&
  grep -q "mxblas analyze your.safetensors" "$T/out" && ok "demo explains its columns and points to analyze" || bad "demo text"

# The conformance corpus: the committed files are what the CPU reference
# writes now; check corpus passes on this build, compares another
# implementation's files, reports per case, and writes JSON and JUnit XML.
CORPUS=$(dirname "$0")/../corpus
expect 0 "corpus regenerates" "$TOOL" corpus "$T/corpus"
expect 0 "the committed corpus is the CPU reference's" diff -r "$CORPUS" "$T/corpus" -x regenerate.sh -x README.md
expect 0 "check corpus (this build)" "$TOOL" check corpus "$CORPUS"
grep -q "^114 of 114 corpus checks passed" "$T/out" && ok "check corpus: every case passes" || bad "check corpus summary"
ncases=$(ls "$CORPUS/cases" | wc -l)
"$PY" - "$CORPUS" "$ncases" <<'EOF' >"$T/out" 2>"$T/err" && ok "the manifest lists every case file" || bad "manifest"
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
m = json.load(open(f"{d}/manifest.json"))
assert len(m["cases"]) == n and all(os.path.exists(f"{d}/{c['file']}") for c in m["cases"])
need = {"rounding": {"rne", "sr"}, "scale_rule": {"rceil", "floor", "ceil", "even"}, "rht": {"0", "1"},
        "block_2d": {"0", "1"}, "pow2_scale": {"0", "1"}, "nonfinite": {"nan-block", "saturate"},
        "compat": {"te", "torchao", "torchao-rceil", "microxcaling", "ocp"}}
for k, v in need.items():
    assert {c[k] for c in m["cases"] if k in c} == v, k
fmts = {c["format"] for c in m["cases"] if c["op"] == "quantize"}
assert len(fmts) == 24 and {"mor_1x128", "fp8_e4m3_128x128", "mx4", "fp8_e4m3_1x128_ue8m0"} <= fmts, fmts
assert sum(c["op"] == "gemm" for c in m["cases"]) >= 8
assert sum(os.path.getsize(f"{d}/{c['file']}") for c in m["cases"]) < 2_000_000
EOF
# another implementation's results: the golden files themselves pass; one
# changed byte and one missing file fail, each named
mkdir -p "$T/res"
cp "$CORPUS"/cases/*.safetensors "$T/res/"
expect 0 "check corpus --results (identical)" "$TOOL" check corpus "$CORPUS" --results "$T/res"
"$PY" - "$T/res" <<'EOF'
import json, struct, sys
d = sys.argv[1]
p = f"{d}/nvfp4_rne.safetensors"
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
b[8 + n + h["data"]["data_offsets"][0] + 3] ^= 0x10
open(p, "wb").write(b)
EOF
rm "$T/res/gemm_mx9_x_mx9.safetensors"
expect 1 "check corpus --results with a wrong byte and a missing file" "$TOOL" check corpus "$CORPUS" --results "$T/res" \
  --json --junit "$T/junit.xml"
cp "$T/out" "$T/res.json"
"$PY" - "$T/res.json" "$T/junit.xml" "$ncases" <<'EOF' >"$T/out" 2>"$T/err" && ok "per-case JSON and JUnit XML" || bad "check corpus JSON/JUnit"
import json, sys, xml.etree.ElementTree as ET
r, n = json.load(open(sys.argv[1])), int(sys.argv[3])
bad = {c["name"]: c["message"] for c in r["cases"] if c["status"] != "pass"}
assert set(bad) == {"nvfp4_rne", "gemm_mx9_x_mx9"}, bad
assert bad["nvfp4_rne"].startswith("data: 1 of 512 bytes differ, first at 3"), bad
assert "no result file" in bad["gemm_mx9_x_mx9"]
assert (r["total"], r["passed"], r["failed"]) == (n, n - 2, 2)
s = ET.parse(sys.argv[2]).getroot().find("testsuite")
assert s.get("tests") == str(n) and s.get("failures") == "2"
f = [t.get("name") for t in s.findall("testcase") if t.find("failure") is not None]
assert sorted(f) == ["gemm_mx9_x_mx9", "nvfp4_rne"], f
EOF
# a corpus this build disagrees with: exit 1, the case named
cp -r "$CORPUS" "$T/corpus2"
cp "$T/res/nvfp4_rne.safetensors" "$T/corpus2/cases/"
expect 1 "check corpus on a changed golden file" "$TOOL" check corpus "$T/corpus2"
grep -q "^FAIL nvfp4_rne: data: 1 of 512 bytes differ" "$T/out" && ok "the failing case is named" || bad "check corpus failure line"
expect 3 "check corpus on a folder without cases" "$TOOL" check corpus "$T/w"
expect 2 "check corpus --results refuses --backend" "$TOOL" check corpus "$CORPUS" --results "$T/res" --backend cuda
expect 2 "check golden refuses --results" "$TOOL" check golden --results "$T/res"
expect 0 "check golden --junit" "$TOOL" check golden --junit "$T/g.xml"
"$PY" -c "import sys, xml.etree.ElementTree as E; s = E.parse(sys.argv[1]).getroot()[0]; assert s.get('tests') == '10' and s.get('failures') == '0'" "$T/g.xml" \
  && ok "golden JUnit XML" || bad "golden JUnit XML"

# --plots: four SVG files and an HTML report, valid XML, one series per run
expect 0 "analyze --plots" "$TOOL" analyze "$T/ckpt" --formats nvfp4,mxfp4,mx6 --rht --plots "$T/plots"
expect 0 "analyze --plots on hostile names" "$TOOL" analyze "$T/names.safetensors" --all-tensors --formats mxfp8_e4m3 --plots "$T/plots2"
"$PY" - "$T" <<'EOF' >"$T/out" 2>"$T/err" && ok "the plots are SVG with the data drawn" || bad "plots"
import sys, xml.etree.ElementTree as ET
d, ns = sys.argv[1], "{http://www.w3.org/2000/svg}"
for p in ["plots", "plots2"]:
    for f in ["sqnr", "heatmap", "scale_codes", "error_magnitude"]:
        root = ET.parse(f"{d}/{p}/{f}.svg").getroot()
        assert root.tag == ns + "svg", root.tag
    html = open(f"{d}/{p}/report.html", encoding="utf-8").read()
    assert html.count("<svg") == 4 and "\x1b" not in html
sq = ET.parse(f"{d}/plots/sqnr.svg").getroot()
assert len(sq.findall(f"{ns}polyline")) == 6  # 3 formats, with and without RHT
assert len(sq.findall(f"{ns}circle")) == 6 * 4  # one point per tensor
hm = ET.parse(f"{d}/plots/heatmap.svg").getroot()
labels = [t.text for t in hm.iter(f"{ns}text")]
assert "layer 0" in labels and "layer 1" in labels, labels
cells = [t.text for t in hm.iter(f"{ns}text") if t.text and t.text.replace(".", "").isdigit()]
assert len(cells) == 2 * 6, cells  # two layers x six runs
sc = ET.parse(f"{d}/plots/scale_codes.svg").getroot()
titles = [t.text for t in sc.iter(f"{ns}text") if t.text and "(" in t.text]
assert any(t.startswith("nvfp4 (UE4M3)") for t in titles) and any(t.startswith("mx6 (BDR") for t in titles), titles
em = ET.parse(f"{d}/plots/error_magnitude.svg").getroot()
assert len(em.findall(f"{ns}polyline")) == 6
EOF

echo "tools_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
