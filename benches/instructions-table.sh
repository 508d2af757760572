#!/usr/bin/env bash
# Turns the output of `cargo bench --bench instructions` (gungraun) into a Markdown table: one row
# per strategy or peer, one column per call, each cell "instructions / branches" (conditional and
# indirect) of the call alone.
#
#   cargo bench --bench instructions 2>&1 | bash benches/instructions-table.sh
set -euo pipefail
awk '
    # A benchmark header: instructions::<strategy>::<call>_
    /^instructions::[a-z_]+::[a-z_]+_$/ {
        split($0, part, "::")
        strategy = part[2]
        call = substr(part[3], 1, length(part[3]) - 1)
        if (!(strategy in seen)) { seen[strategy] = 1; order[++n] = strategy }
        next
    }
    $1 == "Instructions:" { split($2, v, "|"); ins[strategy, call] = v[1]; next }
    $1 == "Bc:" { split($2, v, "|"); br[strategy, call] = v[1]; next }
    $1 == "Bi:" { split($2, v, "|"); br[strategy, call] += v[1]; next }
    END {
        ncalls = split("allocate allocate_dyn deallocate deallocate_dyn grow grow_dyn", calls, " ")
        printf "| strategy |"
        for (c = 1; c <= ncalls; c++) printf " %s |", calls[c]
        printf "\n|---|"
        for (c = 1; c <= ncalls; c++) printf "---:|"
        printf "\n"
        for (i = 1; i <= n; i++) {
            printf "| %s |", order[i]
            for (c = 1; c <= ncalls; c++) {
                key = order[i] SUBSEP calls[c]
                if (key in ins) printf " %s / %s |", ins[key], br[key]
                else printf " |"
            }
            printf "\n"
        }
    }
'
