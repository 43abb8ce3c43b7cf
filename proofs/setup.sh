#!/usr/bin/env bash
# Builds the sealfleet-proofs sidecar and makes sure the Groth16 parameters for 2KiB sectors are in the cache.
# Everything it writes lives outside the clone, under $SEALFLEET_CACHE (default ~/.cache/sealfleet):
#   cargo-target/  the Rust build (cold: about 2.5 min on 2 cores; warm: seconds)
#   params/        parameters and verifying keys for PoRep, snap and WindowPoSt (generated locally: about 15 min
#                  and 5 GB of RAM, once)
#   parents/       the SDR parent cache, written by the proofs library on first use
# Locally generated parameters serve private networks only (the devnet): see proofs/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${SEALFLEET_CACHE:-$HOME/.cache/sealfleet}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"
export FIL_PROOFS_PARAMETER_CACHE="${FIL_PROOFS_PARAMETER_CACHE:-$cache/params}"
export FIL_PROOFS_PARENT_CACHE="${FIL_PROOFS_PARENT_CACHE:-$cache/parents}"
# Set, it makes the proofs library check parameter files against the official hashes, which ours never match.
unset FIL_PROOFS_VERIFY_PRODUCTION_PARAMS

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is required to build the proofs sidecar: install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
# blst is built with the cc crate: a C compiler is all the sidecar needs beyond Rust.
if ! command -v cc >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev
fi

cargo build --release --locked --manifest-path proofs/Cargo.toml
cargo test --release --locked --manifest-path proofs/Cargo.toml
bin="$CARGO_TARGET_DIR/release/sealfleet-proofs"

params="$FIL_PROOFS_PARAMETER_CACHE"
mkdir -p "$params"
# Each kind of parameters is checked and generated on its own, so a cache made before a kind was added gains
# only the missing one (seconds for WindowPoSt, minutes for the others).
for kind in porep update window-post; do
  # Marks a set of files being moved in: a crash half-way would leave new parameters beside old verifying keys.
  incomplete="$params/.incomplete-$kind"
  status=0
  [ -e "$incomplete" ] || RUST_LOG=error "$bin" params --sector-size 2KiB --only "$kind" >/dev/null || status=$?
  if [ -e "$incomplete" ] || [ "$status" -eq 3 ]; then
    # The proofs library writes parameter files in place; generating into a scratch directory keeps a run that
    # is killed half-way from leaving a truncated file that looks present.
    scratch="$params.partial-$kind"
    rm -rf "$scratch"
    mkdir -p "$scratch"
    echo "generating 2KiB $kind parameters into $params (porep about 9 min, update about 6 min, window-post seconds; once)"
    FIL_PROOFS_PARAMETER_CACHE="$scratch" RUST_LOG="${RUST_LOG:-warn}" "$bin" paramgen --sector-size 2KiB --only "$kind"
    touch "$incomplete"
    mv -f "$scratch"/* "$params"/
    rm -f "$incomplete"
    rmdir "$scratch"
  elif [ "$status" -ne 0 ]; then
    echo "error: $bin params failed with exit code $status" >&2
    exit "$status"
  fi
done
RUST_LOG=error "$bin" params --sector-size 2KiB >/dev/null
echo "sealfleet-proofs ready: $bin, parameters in $params"
