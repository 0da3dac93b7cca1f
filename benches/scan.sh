#!/usr/bin/env bash
# benches/scan.sh: end-to-end benchmarks of `autorekey scan`, the real release binary
# against `autorekey sandbox` running as a separate process on 127.0.0.1.
#
# Why a script and not a Rust harness: what users feel is the whole binary (process start,
# TLS-free loopback HTTP, JSON output), and peak memory is only honest when measured on
# that process by GNU time. Every figure is printed as a Markdown row on stdout; progress
# goes to stderr. See benches/README.md for what each figure means and how to read it.
#
# Usage: benches/scan.sh [concurrency|inventory|ratelimit|fromfile|sites|all]...   (default: all)
# Knobs (environment): BENCH_RULES (2000), BENCH_LATENCY_MS (50), BENCH_SEQ_RULES (500),
# BENCH_CONCURRENCIES ("8 16 32"), BENCH_REPEAT (3), BENCH_INV_RULES ("2000 10000"),
# BENCH_RL_RULES ("300 2000"), BENCH_RL_RATES ("20 60 200"), BENCH_RL_LATENCY_MS (5),
# BENCH_RL_CONCURRENCIES (scan's default), BENCH_RL_HEADERS ("on-429"; or "never", "always"),
# BENCH_EXPORT_MB (50), BENCH_FILE_RULES ("2000 10000"), BENCH_JQ (jq), BENCH_SITES (3),
# BENCH_SITES_RULES (1000), AUTOREKEY_BIN (release binary).
#
# Safety (helpers in benches/lib.sh): the sandbox listens on 127.0.0.1 only; the admin
# token is a fresh FAKE- value written to a 0600 file in a private temp dir; every command
# runs under `timeout`; the EXIT trap stops every sandbox this script started and removes
# the temp dir and the sandbox's generated accounts file.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
RULES=${BENCH_RULES:-2000}
LATENCY_MS=${BENCH_LATENCY_MS:-50}
SEQ_RULES=${BENCH_SEQ_RULES:-500}
CONCURRENCIES=${BENCH_CONCURRENCIES-8 16 32}
REPEAT=${BENCH_REPEAT:-3}
INV_RULES=${BENCH_INV_RULES:-2000 10000}
RL_RULES=${BENCH_RL_RULES:-300 2000}
RL_RATES=${BENCH_RL_RATES:-20 60 200}
RL_LATENCY_MS=${BENCH_RL_LATENCY_MS:-5}
RL_CONCURRENCIES=${BENCH_RL_CONCURRENCIES:-}
RL_HEADERS=${BENCH_RL_HEADERS:-on-429}
EXPORT_MB=${BENCH_EXPORT_MB:-50}
FILE_RULES=${BENCH_FILE_RULES:-2000 10000}
JQ=${BENCH_JQ:-jq}
SITES=${BENCH_SITES:-3}
SITES_RULES=${BENCH_SITES_RULES:-1000}

# run_scan LABEL TIMEOUT_S SCAN_ARGS...: one timed scan (see `timed`), plus READ and FAILED
# from its JSON summary.
run_scan() {
    local label=$1 limit=$2
    shift 2
    timed "$label" "$limit" "$BIN" scan --format json -q "$@"
    READ=$(jq -r '.summary.rules_read // "?"' "$WORK/$label.out" 2>/dev/null || echo "?")
    FAILED=$(jq -r '.summary.rules_failed // "?"' "$WORK/$label.out" 2>/dev/null || echo "?")
    READ=${READ:-?} FAILED=${FAILED:-?}
    log "$label: ${WALL}s rc=$RC read=$READ failed=$FAILED rss=${RSS_MB}MB load=$LOAD"
}

# --- 1 and 4: concurrency against latency, and peak memory of a network scan -----------------

LAT_S=$(awk -v m="$LATENCY_MS" 'BEGIN { print m / 1000 }')
SEQ_PER_RULE=""

# measure_sequential: scan SEQ_RULES rules at --concurrency 1 once per script run (both
# network groups scale it) and set SEQ_PER_RULE, the sequential wall time per rule.
measure_sequential() {
    [[ -n $SEQ_PER_RULE ]] && return 0
    start_sandbox --generate "$SEQ_RULES" --latency-ms "$LATENCY_MS"
    mapfile -t args < <(site_args)
    run_scan "seq-$SEQ_RULES" $((SEQ_RULES * LATENCY_MS / 1000 * 3 + 60)) "${args[@]}" --concurrency 1
    # Every rule is one GET of one latency, plus one summary page per PAGE_SIZE rules, so
    # the sequential time is linear in the rule count and a per-rule figure scales fairly.
    SEQ_PER_RULE=$(awk -v w="$WALL" -v s="$SEQ_RULES" 'BEGIN { printf "%.6f", w / s }')
    echo "| sequential (--concurrency 1), $SEQ_RULES rules, ${LATENCY_MS} ms | $WALL s | $(calc 'w * 1000 / s' w="$WALL" s="$SEQ_RULES") ms per rule, scaled linearly to larger counts below | rules_read $READ, rules_failed $FAILED, peak RSS $RSS_MB MB, load $LOAD |"
}

# concurrency_row N C LABEL: scan the running sandbox (N rules) REPEAT times at
# --concurrency C and print one row against the bound, the paging floor and the scaled
# sequential time.
concurrency_row() {
    local n=$1 c=$2 label=$3 walls=() rss=() loads=() bound paged med best seq_est pages
    pages=$(((n + PAGE_SIZE - 1) / PAGE_SIZE))
    bound=$(calc 'n * l / c' n="$n" l="$LAT_S" c="$c")
    paged=$(calc 'b + p * l' b="$bound" p="$pages" l="$LAT_S")
    seq_est=$(calc 'p * n' p="$SEQ_PER_RULE" n="$n")
    mapfile -t args < <(site_args)
    for i in $(seq "$REPEAT"); do
        run_scan "n$n-c$c-$i" "$(awk -v b="$bound" 'BEGIN { printf "%d", b * 4 + 60 }')" "${args[@]}" --concurrency "$c"
        walls+=("$WALL") rss+=("$RSS_MB") loads+=("$LOAD")
    done
    med=$(printf '%s\n' "${walls[@]}" | median)
    best=$(printf '%s\n' "${walls[@]}" | sort -g | head -n1)
    echo "| $label, $n rules, ${LATENCY_MS} ms | median $med s (min $best, runs: ${walls[*]}) | bound N*lat/c = $bound s (x$(ratio "$med" "$bound")); with $pages sequential summary pages = $paged s (x$(ratio "$med" "$paged")) | vs sequential ($SEQ_RULES rules scaled to $n = $seq_est s): x$(ratio "$seq_est" "$med"); rules_read $READ, rules_failed $FAILED; peak RSS ${rss[*]} MB; load ${loads[*]} |"
}

bench_concurrency() {
    measure_sequential
    start_sandbox --generate "$RULES" --latency-ms "$LATENCY_MS"
    for c in $CONCURRENCIES; do
        concurrency_row "$RULES" "$c" "--concurrency $c"
    done
    stop_sandbox
}

# Inventory at the default concurrency for growing sites: time against the bound, and
# whether peak memory stays flat as the rule count grows.
bench_inventory() {
    local c
    c=$(default_concurrency scan)
    [[ -n $c ]] || die "cannot read scan's default --concurrency from its --help"
    measure_sequential
    for n in $INV_RULES; do
        start_sandbox --generate "$n" --latency-ms "$LATENCY_MS"
        concurrency_row "$n" "$c" "inventory, default --concurrency ($c)"
    done
    stop_sandbox
}

# --- 2: a rate-limited site ---------------------------------------------------------------

# ratelimit_row RATE N C HEADERS: a fresh sandbox (its bucket full) limited to RATE req/s,
# sending X-RateLimit-* as HEADERS says (on-429: on 429s only, as Jira Cloud does; never:
# Retry-After alone); one scan of its N rules at --concurrency C; one row with the share of
# what the bucket allows and the 429s counted by the sandbox itself (its "Stopped after"
# line).
ratelimit_row() {
    local rate=$1 n=$2 c=$3 headers=$4 pages ok allowed share raw total limited pct
    pages=$(((n + PAGE_SIZE - 1) / PAGE_SIZE))
    start_sandbox --generate "$n" --latency-ms "$RL_LATENCY_MS" --rate-limit "$rate" --rate-limit-headers "$headers"
    mapfile -t args < <(site_args)
    run_scan "rl-r$rate-n$n-c$c-$headers" $((n / rate * 4 + 60)) "${args[@]}" --concurrency "$c"
    stop_sandbox
    # "Stopped after T requests: L answered 429 by the rate limit, ..."
    read -r total limited < <(sed -n 's/^Stopped after \([0-9]*\) requests: \([0-9]*\) answered 429.*/\1 \2/p' "$WORK/sandbox.err")
    total=${total:-?} limited=${limited:-?}
    # Successful requests, as the sandbox counted them: all it received but its 429s and the
    # one tenant_info (outside the bucket). That is every rule GET, both listings' pages and
    # the admin's /myself check, whatever the client's listing does.
    if [[ $total =~ ^[0-9]+$ && $limited =~ ^[0-9]+$ ]]; then
        ok=$((total - limited - 1))
    else
        ok=$((${READ/\?/0} + pages + 1))
    fi
    # The bucket admits at most burst + rate * T requests in T seconds (burst = rate).
    allowed=$(awk -v r="$rate" -v t="$WALL" 'BEGIN { printf "%.0f", r + r * t }')
    share=$(awk -v o="$ok" -v a="$allowed" 'BEGIN { printf "%.1f", 100 * o / a }')
    raw=$(awk -v o="$ok" -v t="$WALL" 'BEGIN { printf "%.1f", o / t }')
    pct=$(awk -v l="$limited" -v t="$total" 'BEGIN { if (t > 0) printf "%.1f", 100 * l / t; else print "?" }')
    echo "| rate limit $rate req/s (X-RateLimit-* $headers), $n rules, ${RL_LATENCY_MS} ms, --concurrency $c | $WALL s | $ok successful requests = $raw req/s; share of what the bucket allows (rate*T + burst = $allowed): **$share %** | 429s: **$limited of $total requests ($pct %)**; rules_read $READ, rules_failed $FAILED, exit $RC, peak RSS $RSS_MB MB, load $LOAD |"
}

bench_ratelimit() {
    local concurrencies=$RL_CONCURRENCIES rate n c h
    [[ -n $concurrencies ]] || concurrencies=$(default_concurrency scan)
    [[ -n $concurrencies ]] || die "cannot read scan's default --concurrency from its --help"
    for h in $RL_HEADERS; do
        for rate in $RL_RATES; do
            for n in $RL_RULES; do
                for c in $concurrencies; do
                    ratelimit_row "$rate" "$n" "$c" "$h"
                done
            done
        done
    done
}

# --- 3: scan --from-file on a large UI export -----------------------------------------------

# write_export PATH RULES [clean]: a UI export {"cloud":true,"rules":[...]} made of the
# fixture export's rules repeated, each with a fresh idUuid, id and name, streamed out line
# by line so the generator's memory does not grow with the file. With "clean", only the
# fixture rules that hold no credential are used, so the scan keeps no finding.
write_export() {
    local path=$1 n=$2 clean=${3:+true}
    {
        printf '{"cloud":true,"rules":[\n'
        jq -c --argjson n "$n" --argjson clean "${clean:-false}" '
            .rules
            | if $clean then map(select(tostring | test("(?i)authorization|basic|token") | not)) else . end
            | . as $r | ($r | length) as $k
            | range($n) as $i
            | $r[$i % $k]
            | .idUuid = ("b0000000-0000-4000-8000-" + ("000000000000" + ($i | tostring) | .[-12:]))
            | .id = 9000000 + $i
            | .name = "\(.name) #\($i)"' "$ROOT/fixtures/export/ui-export.json" |
            sed '$!s/$/,/'
        printf ']}\n'
    } >"$path"
}

# The jq programs the from-file reader is compared with: a parse of the whole file (jq's
# floor), and a walk of every value for Authorization headers, which counts exactly the
# export's findings (Basic values and the one masked as "") with less work than scan does
# (no decoding, fingerprinting or report).
JQ_PARSE='.rules | length'
JQ_WALK='[.. | objects | select(.name? == "Authorization")] | length'

# fromfile_vs_jq FILE RULES: scan --from-file and the two jq programs on the same file,
# interleaved REPEAT times so a change in machine load hits all three alike; one row each
# with the median MB/s and the peak RSS of every run.
fromfile_vs_jq() {
    local file=$1 n=$2 mb label prog i
    mb=$(file_mb "$file")
    local -A walls=() rss=() result=()
    for i in $(seq "$REPEAT"); do
        run_scan "file-big-$i" 300 --from-file "$file"
        walls[scan]+="$WALL " rss[scan]+="$RSS_MB " result[scan]="rules_read $READ, $(jq -r '.summary.findings' "$WORK/file-big-$i.out") findings, JSON output $(file_mb "$WORK/file-big-$i.out") MB"
        for label in parse walk; do
            [[ $label == parse ]] && prog=$JQ_PARSE || prog=$JQ_WALK
            timed "jq-$label-$i" 300 "$JQ" "$prog" "$file"
            log "jq-$label-$i: ${WALL}s rc=$RC rss=${RSS_MB}MB load=$LOAD"
            walls[$label]+="$WALL " rss[$label]+="$RSS_MB " result[$label]="result $(head -c 40 "$WORK/jq-$label-$i.out"), exit $RC"
        done
    done
    for label in scan parse walk; do
        local med what
        med=$(printf '%s\n' ${walls[$label]} | median)
        case $label in
        scan) what="autorekey scan --from-file" ;;
        # A | inside a Markdown table cell must be escaped.
        parse) what="jq '${JQ_PARSE//|/\\|}'" ;;
        walk) what="jq '${JQ_WALK//|/\\|}'" ;;
        esac
        echo "| $what, $mb MB export ($n rules) | median $med s (runs: ${walls[$label]% }) | $(ratio "$mb" "$med") MB/s | peak RSS ${rss[$label]% } MB; ${result[$label]}; load $LOAD |"
    done
}

bench_fromfile() {
    local per_rule n big mb
    # Size one rule as written, then pick the count that makes about EXPORT_MB.
    write_export "$WORK/probe.json" 30
    per_rule=$(($(stat -c %s "$WORK/probe.json") / 30))
    n=$((EXPORT_MB * 1048576 / per_rule))
    big="$WORK/export-big.json"
    log "writing a ${EXPORT_MB} MB export ($n rules)"
    write_export "$big" "$n"
    fromfile_vs_jq "$big" "$n"
    rm -f -- "$big"
    for n in $FILE_RULES; do
        write_export "$WORK/export-$n.json" "$n"
        mb=$(file_mb "$WORK/export-$n.json")
        run_scan "file-$n" 120 --from-file "$WORK/export-$n.json"
        echo "| scan --from-file, $n rules ($mb MB) | $WALL s | $(ratio "$mb" "$WALL") MB/s | peak RSS $RSS_MB MB; rules_read $READ; load $LOAD |"
        rm -f -- "$WORK/export-$n.json"
    done
    # Same sizes with no credential at all: separates the streaming reader's memory from
    # the findings the report keeps.
    for n in $FILE_RULES; do
        write_export "$WORK/export-clean-$n.json" "$n" clean
        mb=$(file_mb "$WORK/export-clean-$n.json")
        run_scan "clean-$n" 120 --from-file "$WORK/export-clean-$n.json"
        echo "| scan --from-file, $n rules without credentials ($mb MB) | $WALL s | $(ratio "$mb" "$WALL") MB/s | peak RSS $RSS_MB MB; rules_read $READ; load $LOAD |"
        rm -f -- "$WORK/export-clean-$n.json"
    done
}

# --- 5: several sites in one scan ---------------------------------------------------------

# One sandbox serving SITES sites of SITES_RULES generated rules each (`--sites`: its own
# rate limit and faults per site, one process), each LATENCY_MS away. One scan of the first
# site, then one of all of them, REPEAT times interleaved: sites are read side by side, so
# N sites should take about the time of the slowest one, not the sum.
bench_sites() {
    local urls=() one=() all=() w1=() w3=() i med1 med3 read1 read3
    start_sandbox --sites "$SITES" --generate "$SITES_RULES" --latency-ms "$LATENCY_MS"
    for _ in $(seq 100); do
        (($(wc -l <"$WORK/sandbox.out") >= SITES)) && break
        sleep 0.05
    done
    mapfile -t urls <"$WORK/sandbox.out"
    ((${#urls[@]} == SITES)) || die "the sandbox printed ${#urls[@]} site URLs, not $SITES"
    one=(--site "${urls[0]}" --login "$LOGIN" --api-token-file "$WORK/token")
    all=(--login "$LOGIN" --api-token-file "$WORK/token")
    for url in "${urls[@]}"; do all+=(--site "$url"); done
    local limit=$((SITES_RULES * LATENCY_MS / 1000 * SITES + 120))
    for i in $(seq "$REPEAT"); do
        run_scan "sites-1-$i" "$limit" "${one[@]}"
        w1+=("$WALL") read1=$READ
        run_scan "sites-$SITES-$i" "$limit" "${all[@]}"
        w3+=("$WALL") read3=$READ
    done
    stop_sandbox
    med1=$(printf '%s\n' "${w1[@]}" | median)
    med3=$(printf '%s\n' "${w3[@]}" | median)
    echo "| 1 site vs $SITES sites of $SITES_RULES rules each, ${LATENCY_MS} ms, default --concurrency | 1 site: median $med1 s (runs: ${w1[*]}); $SITES sites: median $med3 s (runs: ${w3[*]}) | $SITES sites take **x$(ratio "$med3" "$med1")** the time of one (their sum would be x$SITES) | rules_read $read1 and $read3; load $LOAD |"
}

# --- main --------------------------------------------------------------------------------

# Wrapped in a function so bash has parsed all of it before running: editing or pulling
# this file during a long run cannot change what the run executes.
main() {
    bench_init
    machine_facts
    echo "| benchmark | time | figure | notes |"
    echo "|---|---|---|---|"
    [[ $# -gt 0 ]] || set -- all
    for what in "$@"; do
        case $what in
        concurrency) bench_concurrency ;;
        inventory) bench_inventory ;;
        ratelimit) bench_ratelimit ;;
        fromfile) bench_fromfile ;;
        sites) bench_sites ;;
        all)
            # Not joined with &&: set -e does not apply inside a function run as part of a list.
            bench_concurrency
            bench_inventory
            bench_ratelimit
            bench_fromfile
            bench_sites
            ;;
        *) die "unknown benchmark '$what' (concurrency, inventory, ratelimit, fromfile, sites, all)" ;;
        esac
    done
}

main "$@"
