#!/usr/bin/env bash
# benches/soak.sh: the long soak of `autorekey rotate` (tests/it/test_soak.rs) in a release build.
#
# Why a wrapper and not a second harness: the soak is one test whose length is set from the
# environment, so CI's soak step runs a short one and this script runs the same code for
# longer, with the same checks after every run. Release, because the length of a soak is
# mostly the binary's own work and debug builds make a 200-rotation soak needlessly slow.
#
# Usage: benches/soak.sh [ROTATIONS] [SEED]      (default: 200 rotations, a random seed)
#   benches/soak.sh 1000                          the long one
#   benches/soak.sh 200 12330318606436599131      replay a seed printed by an earlier soak
# Knobs (environment): AUTOREKEY_SOAK_GENERATED (generated rules beside the fixtures, 6).
#
# The soak prints its seed first and its counts last; its exit status is the test's.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROTATIONS=${1:-200}
[[ $ROTATIONS =~ ^[1-9][0-9]*$ ]] || {
    echo "soak.sh: ROTATIONS must be a positive number, not '$ROTATIONS'" >&2
    exit 2
}
export AUTOREKEY_SOAK_ROTATIONS=$ROTATIONS
if [[ $# -ge 2 ]]; then
    [[ $2 =~ ^[0-9]+$ ]] || {
        echo "soak.sh: SEED must be a number, not '$2'" >&2
        exit 2
    }
    export AUTOREKEY_SOAK_SEED=$2
fi

cd "$ROOT"
start=$(date +%s)
cargo test --release --test it test_soak:: -- --ignored --nocapture
echo "soak.sh: $ROTATIONS rotations in $(($(date +%s) - start)) s (build included)" >&2
