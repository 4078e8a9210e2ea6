#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md. Needs ~3 GB of disk in bench-out/ and a few
# minutes. Usage: benches/run.sh [setup|evtx|batch|all]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
what=${1:-all}
out=bench-out
mkdir -p "$out"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

cargo build -q --release -p exhume -p samplegen
ex=target/release/exhume
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1048576 " GiB"}'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

measure() { # label, command...
  local label=$1; shift
  local t
  /usr/bin/time -f "%e %M" -o "$out/.time" "$@" >/dev/null 2>/dev/null
  t=$(tail -1 "$out/.time")
  printf '%-44s %8s s  %8s MB peak RSS\n' "$label" "$(echo "$t" | cut -d' ' -f1)" "$(( $(echo "$t" | cut -d' ' -f2) / 1024 ))"
}

best_of() { # n, label, command...: best wall time of n runs
  local n=$1 label=$2; shift 2
  local best=999999 rss=0
  for _ in $(seq "$n"); do
    local t
    /usr/bin/time -f "%e %M" -o "$out/.time" "$@" >/dev/null 2>/dev/null
    t=$(tail -1 "$out/.time")
    local s=${t% *} m=${t#* }
    if awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$m; fi
  done
  printf '%-44s %8s s  %8s MB peak RSS (best of %s)\n' "$label" "$best" "$((rss / 1024))" "$n"
}

if [ ! -d "$out/setup-200mb" ] || [ ! -d "$out/evtx-1gb" ] || [ ! -d "$out/evtx-1gb-setup-200mb" ]; then
  target/release/make-samples --bench "$out"
fi

if [ "$what" = setup ] || [ "$what" = all ]; then
  echo "== setup log: 200 MB ExchangeSetup.log (whole analyze, hashing included)"
  best_of 3 "analyze setup-200mb (2 threads)" "$ex" analyze "$out/setup-200mb"
  best_of 3 "analyze setup-200mb (1 thread)" env RAYON_NUM_THREADS=1 "$ex" analyze "$out/setup-200mb"
  cargo bench -q --bench stages -- setup "$out/setup-200mb/setup/ExchangeSetup.log"
fi

if [ "$what" = evtx ] || [ "$what" = all ]; then
  if [ ! -x "$out/tools/bin/evtx_dump" ]; then
    cargo install evtx --version 0.15.1 --locked --root "$out/tools" >/dev/null 2>&1
  fi
  size=$(du -sb "$out/evtx-1gb/evtx" | cut -f1)
  echo "== EVTX: $((size / 1048576)) MiB in $out/evtx-1gb/evtx"
  dump_all() { for f in "$out"/evtx-1gb/evtx/*.evtx; do "$out/tools/bin/evtx_dump" -t "$1" -o jsonl "$f" >/dev/null; done; }
  export -f dump_all; export out
  best_of 2 "evtx_dump -t 2 -o jsonl > /dev/null" bash -c "dump_all 2"
  best_of 2 "evtx_dump -t 1 -o jsonl > /dev/null" bash -c "dump_all 1"
  best_of 3 "exhume analyze evtx-1gb (2 threads)" "$ex" analyze "$out/evtx-1gb"
  best_of 3 "exhume analyze evtx-1gb (1 thread)" env RAYON_NUM_THREADS=1 "$ex" analyze "$out/evtx-1gb"
  echo "== the same EVTX plus a 200 MB setup log (the batch issue's single large bundle)"
  best_of 3 "exhume analyze evtx-1gb-setup-200mb (2 thr)" "$ex" analyze "$out/evtx-1gb-setup-200mb"
  best_of 3 "exhume analyze evtx-1gb-setup-200mb (1 thr)" env RAYON_NUM_THREADS=1 "$ex" analyze "$out/evtx-1gb-setup-200mb"
fi

if [ "$what" = batch ] || [ "$what" = all ]; then
  if [ ! -d "$out/batch-200" ]; then
    target/release/make-samples --batch "$out/batch-200" 200
  fi
  n=$(find "$out/batch-200" -maxdepth 1 -mindepth 1 | wc -l)
  echo "== batch: $n bundles"
  for j in 1 2; do
    rm -rf "$out/batch-out-$j"
    start=$(date +%s.%N)
    measure "batch --jobs $j" "$ex" batch "$out/batch-200" --out "$out/batch-out-$j" --jobs "$j"
    end=$(date +%s.%N)
    awk -v n="$n" -v s="$start" -v e="$end" -v j="$j" 'BEGIN{printf "  --jobs %s: %.1f bundles/s\n", j, n/(e-s)}'
  done
  cmp "$out/batch-out-1/summary.csv" "$out/batch-out-2/summary.csv" && echo "  summaries identical for --jobs 1 and 2"
fi
