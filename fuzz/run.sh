#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, two at a time (the machine has
# two cores), after writing the seed corpora from the sample generator.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On a stable toolchain RUSTC_BOOTSTRAP=1
# lets cargo-fuzz use the unstable flags it needs. Targets are built without a sanitizer (exhume
# forbids unsafe code, so ASan would only slow the search) but with debug assertions, so integer
# overflows panic: panics, failed property checks, timeouts and memory blow-ups are what we hunt. Crash inputs land in fuzz/artifacts/TARGET/; copy each into tests/hostile/
# as a regression input once fixed. Logs and a summary go to fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(bundle_zip manifest setup_log reg webconfig apphost csv pipeline evtx_scan)
fi
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export PATH="$HOME/.local/cargo-fuzz/bin:$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1
# One parse thread per fuzzer: two fuzzers already fill the two cores.
export RAYON_NUM_THREADS=1

cargo run --quiet --example make-seeds -- corpus
# Build once, then run the binaries themselves: `cargo fuzz run` would rebuild whenever the
# working tree changed, inside the time given to each target.
cargo fuzz build -s none --debug-assertions
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs

run_one() {
  local t=$1 max_len=65536
  case $t in bundle_zip | pipeline) max_len=262144 ;; esac
  mkdir -p "artifacts/$t"
  "$bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || true
  local execs rate crashes
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
  printf '%-11s %6s s  %12s execs  %7s/s  %s artefact(s) in artifacts/%s\n' \
    "$t" "$secs" "$execs" "$rate" "$crashes" "$t" | tee -a logs/summary.txt
}

# Each fuzzer keeps a scratch folder in /dev/shm for its life; remove those this run made.
before=$(ls -d /dev/shm/exhume-fuzz-* 2>/dev/null || true)
date -u +"run of $(date -u +%FT%TZ), ${secs}s per target" >>logs/summary.txt
i=0
for t in "${targets[@]}"; do
  run_one "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
for d in /dev/shm/exhume-fuzz-*; do
  [ -e "$d" ] || continue
  case "$before" in *"$d"*) ;; *) rm -rf "$d" ;; esac
done
