#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md. Needs ~3 GB of disk in bench-out/ and a few
# minutes. Usage: benches/run.sh [setup|evtx|real|batch|all]
# `real` alone (real-chunk EVTX bundles against evtx_dump, ~4 min) reruns just that comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
what=${1:-all}
out=bench-out
mkdir -p "$out"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

cargo build -q --release -p exhume -p samplegen
ex=${EXHUME:-target/release/exhume}
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

if [ "$what" != real ] && [ "$what" != batch ] \
  && { [ ! -d "$out/setup-200mb" ] || [ ! -d "$out/evtx-1gb" ] || [ ! -d "$out/evtx-1gb-setup-200mb" ]; }; then
  target/release/make-samples --bench "$out"
fi

evtx_dump=$out/tools/bin/evtx_dump
need_evtx_dump() {
  if [ ! -x "$evtx_dump" ]; then
    cargo install evtx --version 0.15.1 --locked --root "$out/tools" >/dev/null 2>&1
  fi
}

# wall, user+sys CPU and peak RSS of one run, appended to the file $1 as "wall cpu rss_kib".
timed() {
  local log=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$out/.time" "$@" >/dev/null 2>/dev/null
  tail -1 "$out/.time" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' >>"$log"
}

# The median of column $2 of the file $1.
median() { cut -d' ' -f"$2" "$1" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

if [ "$what" = setup ] || [ "$what" = all ]; then
  echo "== setup log: 200 MB ExchangeSetup.log (whole analyze, hashing included)"
  best_of 3 "analyze setup-200mb (2 threads)" "$ex" analyze "$out/setup-200mb"
  best_of 3 "analyze setup-200mb (1 thread)" env RAYON_NUM_THREADS=1 "$ex" analyze "$out/setup-200mb"
  cargo bench -q --bench stages -- setup "$out/setup-200mb/setup/ExchangeSetup.log"
fi

if [ "$what" = evtx ] || [ "$what" = all ]; then
  need_evtx_dump
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

if [ "$what" = real ] || [ "$what" = all ]; then
  # Real chunks: folder bundles whose evtx/ holds N hard links of the stitched corpus file
  # (352 real chunks: SCM-heavy System log, Security, Group Policy, Defender), 0.5, 1 and 2 GiB,
  # and a zip of the 0.5 GiB one. Runs alternate exhume and evtx_dump; medians of $runs.
  need_evtx_dump
  corpus=../shared/evtx-corpus/synthetic/stitched-352-chunks.evtx
  runs=${RUNS:-3}
  [ -f "$out/real-chunk.evtx" ] || cp "$corpus" "$out/real-chunk.evtx"
  chunk_bytes=$(stat -c %s "$out/real-chunk.evtx")
  for gib in 0.5 1 2; do
    dir=$out/real-$gib
    n=$(awk -v g="$gib" -v b="$chunk_bytes" 'BEGIN{printf "%d", g * 1073741824 / b + 0.5}')
    if [ "$(find "$dir/evtx" -name '*.evtx' 2>/dev/null | wc -l)" != "$n" ]; then
      rm -rf "$dir" && mkdir -p "$dir/evtx"
      for i in $(seq -w 1 "$n"); do ln "$out/real-chunk.evtx" "$dir/evtx/System-$i.evtx"; done
    fi
  done
  if [ ! -f "$out/real-0.5.zip" ]; then
    (cd "$out/real-0.5" && zip -q -1 -r ../real-0.5.zip evtx)
  fi
  dump_dir() { for f in "$1"/evtx/*.evtx; do "$evtx_dump" -t 2 -o jsonl "$f" >/dev/null; done; }
  export -f dump_dir; export evtx_dump
  echo "== real-chunk EVTX ($runs alternating runs each, medians; load before: $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '%-22s %9s %9s %9s %9s %7s %9s\n' input "MiB" "exhume s" "CPU s" "dump s" ratio "peak MiB"
  report() { # label, MiB, exhume log, dump log
    local w c d r
    w=$(median "$3" 1); c=$(median "$3" 2); r=$(median "$3" 3); d=$(median "$4" 1)
    printf '%-22s %9s %9s %9s %9s %7s %9s\n' "$1" "$2" "$w" "$c" "$d" \
      "$(awk -v a="$w" -v b="$d" 'BEGIN{printf "%.2f", a / b}')" "$((r / 1024))"
  }
  for gib in 0.5 1 2; do
    dir=$out/real-$gib
    mib=$(( $(find "$dir/evtx" -name '*.evtx' | wc -l) * chunk_bytes / 1048576 ))
    rm -f "$out/.ex" "$out/.dump"
    for _ in $(seq "$runs"); do
      timed "$out/.dump" bash -c "dump_dir $dir"
      timed "$out/.ex" "$ex" analyze "$dir" --format json -o "$out/.report.json"
    done
    report "analyze real-$gib" "$mib" "$out/.ex" "$out/.dump"
    cp "$out/.dump" "$out/.dump-$gib"
  done
  rm -f "$out/.ex"
  for _ in $(seq "$runs"); do
    timed "$out/.ex" "$ex" analyze "$out/real-0.5.zip" --format json -o "$out/.report.json"
  done
  report "analyze real-0.5.zip" "$(( $(stat -c %s "$out/real-0.5.zip") / 1048576 ))" "$out/.ex" "$out/.dump-0.5"
  rm -f "$out/.ex"
  for _ in $(seq "$runs"); do
    timed "$out/.ex" "$ex" timeline "$out/real-1" -o "$out/.timeline.csv"
  done
  report "timeline real-1" "$(( $(find "$out/real-1/evtx" -name '*.evtx' | wc -l) * chunk_bytes / 1048576 ))" "$out/.ex" "$out/.dump-1"
  echo "(ratio: exhume wall / evtx_dump -t 2 -o jsonl wall on the same files; CPU: user+sys)"
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
