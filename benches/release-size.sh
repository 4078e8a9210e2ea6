#!/usr/bin/env bash
# Builds the release binary an analyst installs and checks it stays within 10 MB.
# Not run by CI (a link-time-optimised build takes minutes on 2 cores); tests/release_profile.rs
# checks the profile that keeps it small. Usage: benches/release-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin exhume
bin=target/release/exhume
[ -f "$bin" ] || bin=target/release/exhume.exe
size=$(wc -c < "$bin")
echo "release binary: $size bytes ($(( size / 1024 / 1024 )) MiB)"
[ "$size" -le $(( 10 * 1000 * 1000 )) ] || { echo "over 10 MB" >&2; exit 1; }
