#!/usr/bin/env bash
# benches/rotate.sh: end-to-end benchmark of `autorekey rotate --yes`, the real release
# binary rewriting one service account's credential in about 500 rules of a generated
# `autorekey sandbox` site on 127.0.0.1 with added latency.
#
# Why shaped so: a rotation is two phases with different floors. It first reads every rule
# of the site (N GETs, like a scan), then writes each rule that holds the credential with
# four requests (re-read just before the write, PUT, read-back, and the final check once
# every write is done), so the write phase's floor is R x 4 x latency / concurrency. The split is timed from outside: --yes prints
# every diff on stdout the moment reading ends, so the first stdout byte marks the
# boundary. Correctness is checked, not assumed: a scan before counts the rules that hold
# the credential, a scan after must find exactly those rules holding one new credential,
# and rotate must say "rotated" for each of them and exit 0. Figures are Markdown rows on
# stdout; progress goes to stderr. See benches/README.md.
#
# Usage: benches/rotate.sh
# Knobs (environment): BENCH_ROT_RULES (5000: about 500 of them hold the account's
# credential with the default seed), BENCH_ROT_ACCOUNT (svc-automation@sandbox.example),
# BENCH_LATENCY_MS (50), BENCH_ROT_CONCURRENCIES (rotate's default, then 1),
# AUTOREKEY_BIN (release binary).
#
# Safety (helpers in benches/lib.sh): the sandbox listens on 127.0.0.1 only and is stopped
# on exit with its accounts file. The admin token is the script's fresh FAKE- value; the
# new token is the generated account's tokens[1], read from the sandbox's 0600 accounts
# file with jq straight into rotate's environment: neither is printed or put on a command
# line. Backups and journals go to the private temp dir, removed on exit.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
RULES=${BENCH_ROT_RULES:-5000}
ACCOUNT=${BENCH_ROT_ACCOUNT:-svc-automation@sandbox.example}
LATENCY_MS=${BENCH_LATENCY_MS:-50}
LAT_S=$(awk -v m="$LATENCY_MS" 'BEGIN { print m / 1000 }')
# A scan that only counts or checks rules, not a measurement: as fast as the sandbox allows.
CHECK_CONCURRENCY=32

# account_rules LABEL: scan the site for ACCOUNT's credentials; prints "fingerprint rules"
# per credential of the account, one a line.
account_rules() {
    mapfile -t args < <(site_args)
    timed "$1" $((RULES * LATENCY_MS / 1000 / CHECK_CONCURRENCY * 4 + 60)) \
        "$BIN" scan --format json -q --account "$ACCOUNT" --concurrency "$CHECK_CONCURRENCY" "${args[@]}"
    [[ $RC == 0 ]] || die "the check scan $1 failed (exit $RC)"
    jq -r --arg e "$ACCOUNT" '.summary.credentials[] | select(.email == $e) | "\(.fingerprint) \(.rules)"' \
        "$WORK/$1.out"
}

# first_output_at FILE OUT: write the time (ns) FILE first holds a byte to OUT; polls every
# 20 ms, so the phase split is good to about that.
first_output_at() {
    while [[ ! -s $1 ]]; do sleep 0.02; done
    date +%s%N >"$2"
}

# rotate_row C: a fresh site, a timed rotation at --concurrency C, its checks, one row.
rotate_row() {
    local c=$1 label="rotate-c$1" before expected old watcher read_s write_s bound_r bound_w
    start_sandbox --generate "$RULES" --latency-ms "$LATENCY_MS"
    [[ -n $SANDBOX_ACCOUNTS ]] || die "the sandbox did not say where its generated accounts are"
    before=$(account_rules "$label-before")
    [[ $(wc -l <<<"$before") == 1 ]] || die "expected one credential of $ACCOUNT before rotating, got: $before"
    read -r old expected <<<"$before"
    log "$label: $ACCOUNT's credential $old is in $expected of $RULES rules"

    rm -f -- "$WORK/$label.first"
    first_output_at "$WORK/$label.out" "$WORK/$label.first" &
    watcher=$!
    bound_r=$(calc 'n * l / c' n="$RULES" l="$LAT_S" c="$c")
    bound_w=$(calc 'r * 4 * l / c' r="$expected" l="$LAT_S" c="$c")
    # Variables set before a function call reach the commands it runs, and only those.
    AUTOREKEY_SITE=$SITE AUTOREKEY_LOGIN=$LOGIN AUTOREKEY_API_TOKEN=$(<"$WORK/token") \
        AUTOREKEY_NEW_TOKEN=$(jq -r --arg e "$ACCOUNT" '.accounts[] | select(.email == $e) | .tokens[1]' "$SANDBOX_ACCOUNTS") \
        timed "$label" "$(calc '(a + b) * 4 + 60' a="$bound_r" b="$bound_w" | cut -d. -f1)" \
        "$BIN" rotate --account "$ACCOUNT" --yes --backup-dir "$WORK/backups-c$c" --concurrency "$c"
    kill "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    local wall=$WALL rss=$RSS_MB rc=$RC load=$LOAD rotated after
    rotated=$(sed -n 's/^  rotated  *\([0-9][0-9]*\)$/\1/p' "$WORK/$label.out")
    read_s=n/a write_s=n/a
    if [[ -s $WORK/$label.first ]]; then
        read_s=$(awk -v a="$T0_NS" -v b="$(<"$WORK/$label.first")" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
        write_s=$(calc 'w - r' w="$wall" r="$read_s")
    fi
    log "$label: ${wall}s (read ${read_s}s, write ${write_s}s) rc=$rc rotated=${rotated:-?}/$expected rss=${rss}MB load=$load"

    after=$(account_rules "$label-after")
    local verdict="OK: exit 0, rotated = expected, and the site now holds one new credential of the account in exactly those rules"
    if [[ $rc != 0 || ${rotated:-x} != "$expected" ]]; then
        verdict="FAILED: exit $rc, rotated ${rotated:-?} of $expected"
    elif [[ $(wc -l <<<"$after") != 1 || $after == "$old "* || ${after#* } != "$expected" ]]; then
        verdict="FAILED: after the rotation the account's credentials are: ${after//$'\n'/; }"
    fi
    local phases="no phase split (rotate printed nothing)"
    if [[ $read_s != n/a ]]; then
        phases="$(calc 'r / w' r="$expected" w="$write_s") rules/s writing; bounds: read N*lat/c = $bound_r s (x$(ratio "$read_s" "$bound_r")), write R*4*lat/c = $bound_w s (x$(ratio "$write_s" "$bound_w"))"
    fi
    echo "| rotate --yes --concurrency $c: $expected of $RULES rules, ${LATENCY_MS} ms | $wall s in all: read ${read_s} s + write ${write_s} s | $(calc 'r / w' r="$expected" w="$wall") rules/s overall, $phases | peak RSS $rss MB; load $load; $verdict |"
    [[ $verdict == OK* ]] || FAILURES=$((FAILURES + 1))
}

main() {
    bench_init
    machine_facts
    local default
    default=$(default_concurrency rotate)
    [[ -n $default ]] || die "cannot read rotate's default --concurrency from its --help"
    FAILURES=0
    echo "| benchmark | time | figure | notes |"
    echo "|---|---|---|---|"
    for c in ${BENCH_ROT_CONCURRENCIES:-$default 1}; do
        rotate_row "$c"
    done
    stop_sandbox
    ((FAILURES == 0)) || die "$FAILURES rotation(s) did not end as expected (see the rows)"
}

main "$@"
