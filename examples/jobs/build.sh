#!/usr/bin/env bash
# Rebuilds the sample jobs for wasm32-wasip1 into wasm/ (needs `rustup target add wasm32-wasip1`).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmkt/jobs-target}"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
# no machine-specific paths in the modules, so rebuilds elsewhere give the same bytes
export RUSTFLAGS="--remap-path-prefix=$HOME=/home --remap-path-prefix=$PWD=/jobs"
cargo build --release --locked --target wasm32-wasip1 --workspace --exclude digits
# the classifier with wasm SIMD (128-bit, as its native build gets SSE), so its layers vectorise
RUSTFLAGS="$RUSTFLAGS -C target-feature=+simd128" cargo build --release --locked \
  --target wasm32-wasip1 -p digits --target-dir "$CARGO_TARGET_DIR/simd128"
# hash-chain asking the host for sha256 (runtime wasi-p1v3 only), as hash-chain-host.wasm
cargo build --release --locked --target wasm32-wasip1 -p hash-chain --features host \
  --target-dir "$CARGO_TARGET_DIR/host"
mkdir -p wasm
# built module (under the target dir) -> committed module
for pair in hash-chain:hash-chain monte-carlo:monte-carlo word-freq:word-freq \
    mandelbrot:mandelbrot simd128/digits:digits host/hash-chain:hash-chain-host; do
  job="${pair%%:*}" out="wasm/${pair##*:}.wasm"
  dir="$CARGO_TARGET_DIR/$(dirname "$job")"
  cp "$dir/wasm32-wasip1/release/$(basename "$job").wasm" "$out"
  echo "$out $(wc -c < "$out") bytes sha256 $(sha256sum "$out" | cut -c1-64)"
done
