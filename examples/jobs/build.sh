#!/usr/bin/env bash
# Rebuilds the sample jobs for wasm32-wasip1 into wasm/ (needs `rustup target add wasm32-wasip1`).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmkt/jobs-target}"
rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
# no machine-specific paths in the modules, so rebuilds elsewhere give the same bytes
export RUSTFLAGS="--remap-path-prefix=$HOME=/home --remap-path-prefix=$PWD=/jobs"
cargo build --release --locked --target wasm32-wasip1
mkdir -p wasm
for job in hash-chain monte-carlo word-freq mandelbrot; do
  cp "$CARGO_TARGET_DIR/wasm32-wasip1/release/$job.wasm" "wasm/$job.wasm"
  echo "wasm/$job.wasm $(wc -c < "wasm/$job.wasm") bytes sha256 $(sha256sum "wasm/$job.wasm" | cut -c1-64)"
done
