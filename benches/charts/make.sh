#!/usr/bin/env bash
# Runs `examples/compare.rs` on every workload and draws each table as an SVG chart beside it:
# benches/charts/<workload>[-N].md and .svg, which README.md shows. Takes several minutes; the
# machine's load moves every figure, so say how loaded it was when quoting them.
#
#   bash benches/charts/make.sh            # all workloads
#   bash benches/charts/make.sh churn      # only those named
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --example compare --example chart
out=benches/charts
run() { # name, then compare's arguments
    local name=$1
    shift
    echo "== $name: compare $*" >&2
    ./target/release/examples/compare "$@" >"$out/$name.md"
    ./target/release/examples/chart <"$out/$name.md" >"$out/$name.svg"
}
all=("$@")
pick() { [ ${#all[@]} -eq 0 ] || [[ " ${all[*]} " == *" $1 "* ]]; }
pick seed_map && run seed_map-100000 seed_map 100000 30
pick seed_map && run seed_map-1000000 seed_map 1000000 10
pick bump && run bump bump 1000000 30
pick churn && run churn churn 1000000 30
pick churn_boxed && run churn_boxed churn_boxed 1000000 30
pick threads && run threads threads 200000 15
