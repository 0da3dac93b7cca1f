#!/usr/bin/env bash
# benches/scan.sh: end-to-end benchmarks of `autorekey scan`, the real release binary
# against `autorekey sandbox` running as a separate process on 127.0.0.1.
#
# Why a script and not a Rust harness: what users feel is the whole binary (process start,
# TLS-free loopback HTTP, JSON output), and peak memory is only honest when measured on
# that process by GNU time. Every figure is printed as a Markdown row on stdout; progress
# goes to stderr. See benches/README.md for what each figure means and how to read it.
#
# Usage: benches/scan.sh [concurrency|ratelimit|fromfile|all]...   (default: all)
# Knobs (environment): BENCH_RULES (2000), BENCH_LATENCY_MS (50), BENCH_SEQ_RULES (500),
# BENCH_CONCURRENCIES ("8 16 32"), BENCH_REPEAT (3), BENCH_RL_RULES (1000),
# BENCH_RL_RATE (50), BENCH_RL_LATENCY_MS (5), BENCH_RL_CONCURRENCIES ("8 32"),
# BENCH_EXPORT_MB (50), BENCH_FILE_RULES ("2000 10000"), AUTOREKEY_BIN (release binary).
#
# Safety: the sandbox listens on 127.0.0.1 only; the admin token is a fresh FAKE- value
# written to a 0600 file in a private temp dir; every command runs under `timeout`; the
# EXIT trap stops every sandbox this script started and removes the temp dir and the
# sandbox's generated accounts file.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${AUTOREKEY_BIN:-$ROOT/target/release/autorekey}
RULES=${BENCH_RULES:-2000}
LATENCY_MS=${BENCH_LATENCY_MS:-50}
SEQ_RULES=${BENCH_SEQ_RULES:-500}
CONCURRENCIES=${BENCH_CONCURRENCIES-8 16 32}
REPEAT=${BENCH_REPEAT:-3}
RL_RULES=${BENCH_RL_RULES:-1000}
RL_RATE=${BENCH_RL_RATE:-50}
RL_LATENCY_MS=${BENCH_RL_LATENCY_MS:-5}
RL_CONCURRENCIES=${BENCH_RL_CONCURRENCIES:-8 32}
EXPORT_MB=${BENCH_EXPORT_MB:-50}
FILE_RULES=${BENCH_FILE_RULES:-2000 10000}
SEED=7
PAGE_SIZE=100 # the client's summary page limit (src/fetch/client.rs PAGE_LIMIT)
LOGIN=bench-admin@sandbox.example

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 2
}

# --- prerequisites -------------------------------------------------------------------------

[[ -x $BIN ]] || die "no binary at $BIN: run 'cargo build --release' first"
command -v jq >/dev/null || die "jq is required to read scan's JSON summary (apt-get install -y jq)"
command -v timeout >/dev/null || die "timeout (GNU coreutils) is required to bound each run"
if /usr/bin/time -v true >/dev/null 2>&1; then
    HAVE_TIME=1
else
    HAVE_TIME=0
    log "GNU time not found at /usr/bin/time: peak RSS columns will read 'n/a'"
    log "  (install it with: apt-get update && apt-get install -y time)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autorekey-bench.XXXXXX")
chmod 700 "$WORK"
SANDBOX_PID=""
SANDBOX_ACCOUNTS=""

stop_sandbox() {
    [[ -n $SANDBOX_PID ]] || return 0
    # The sandbox stops cleanly on Ctrl-C (SIGINT); SIGKILL only if it has not within 5 s.
    kill -INT "$SANDBOX_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$SANDBOX_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
    SANDBOX_PID=""
    # Generated service-account tokens live in a private dir the sandbox made; only a path
    # of exactly that shape is removed.
    if [[ $SANDBOX_ACCOUNTS =~ ^/.*/autorekey-sandbox-[0-9a-f-]+/sandbox-accounts\.json$ ]]; then
        rm -rf -- "$(dirname "$SANDBOX_ACCOUNTS")"
    fi
    SANDBOX_ACCOUNTS=""
}

cleanup() {
    stop_sandbox
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh fake admin token, never printed: it goes to 0600 files only.
TOKEN="FAKE-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
(
    umask 077
    printf '%s' "$TOKEN" >"$WORK/token"
    printf '{"accounts":[{"email":"%s","admin":true,"tokens":["%s"]}]}\n' \
        "$LOGIN" "$TOKEN" >"$WORK/accounts.json"
)

# start_sandbox ARGS...: serve generated rules on 127.0.0.1; sets SITE.
start_sandbox() {
    stop_sandbox
    "$BIN" sandbox --port 0 --seed "$SEED" --accounts "$WORK/accounts.json" "$@" \
        >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
    SANDBOX_PID=$!
    SITE=""
    for _ in $(seq 200); do
        SITE=$(head -n1 "$WORK/sandbox.out" 2>/dev/null || true)
        [[ -n $SITE ]] && break
        kill -0 "$SANDBOX_PID" 2>/dev/null || die "sandbox exited: $(cat "$WORK/sandbox.err")"
        sleep 0.05
    done
    [[ $SITE =~ ^http://127\.0\.0\.1:[0-9]+/?$ ]] || die "sandbox did not print a loopback URL"
    SANDBOX_ACCOUNTS=$(sed -n 's/.*(mode 0600): //p' "$WORK/sandbox.err" | head -n1)
    log "sandbox $SITE ($*)"
}

# run_scan LABEL TIMEOUT_S SCAN_ARGS...: one timed scan. Sets WALL (s), RSS_MB, READ,
# FAILED, RC. Wall time is taken around the process, so it includes start-up.
run_scan() {
    local label=$1 limit=$2
    shift 2
    local out="$WORK/$label.json" t0 t1
    local -a cmd=("$BIN" scan --format json -q "$@")
    ((HAVE_TIME)) && cmd=(/usr/bin/time -v -o "$WORK/$label.time" "${cmd[@]}")
    RC=0
    t0=$(date +%s%N)
    timeout --signal=INT --kill-after=5 "$limit" "${cmd[@]}" >"$out" 2>"$WORK/$label.err" || RC=$?
    t1=$(date +%s%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    RSS_MB=n/a
    if ((HAVE_TIME)) && [[ -s $WORK/$label.time ]]; then
        RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' \
            "$WORK/$label.time")
    fi
    READ=$(jq -r '.summary.rules_read // "?"' "$out" 2>/dev/null || echo "?")
    FAILED=$(jq -r '.summary.rules_failed // "?"' "$out" 2>/dev/null || echo "?")
    READ=${READ:-?} FAILED=${FAILED:-?}
    if [[ $RC != 0 ]]; then
        # scan's stderr never holds a token (a product rule), so its tail is safe to show.
        [[ $RC == 124 ]] && log "$label: TIMEOUT after ${limit}s"
        log "$label: exit $RC; last lines of its stderr:"
        tail -n 15 "$WORK/$label.err" | sed 's/^/[bench]   /' >&2
    fi
    log "$label: ${WALL}s rc=$RC read=$READ failed=$FAILED rss=${RSS_MB}MB"
    check_sandbox
}

# A scan that fails because the sandbox is gone measures nothing: stop with its stderr.
check_sandbox() {
    [[ -n $SANDBOX_PID ]] || return 0
    kill -0 "$SANDBOX_PID" 2>/dev/null && return 0
    local status=0
    wait "$SANDBOX_PID" || status=$?
    log "the sandbox died during the run (exit status $status); its stderr:"
    tail -n 15 "$WORK/sandbox.err" | sed 's/^/[bench]   /' >&2
    die "figures after this point would be meaningless"
}

site_args() { printf '%s\n' --site "$SITE" --login "$LOGIN" --api-token-file "$WORK/token"; }

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# --- 1 and 4: concurrency against latency, and peak memory of a network scan -----------------

bench_concurrency() {
    local lat_s pages seq_wall seq_per_rule seq_est
    lat_s=$(awk -v m="$LATENCY_MS" 'BEGIN { print m / 1000 }')

    start_sandbox --generate "$SEQ_RULES" --latency-ms "$LATENCY_MS"
    mapfile -t args < <(site_args)
    run_scan "seq-$SEQ_RULES" $((SEQ_RULES * LATENCY_MS / 1000 * 3 + 60)) "${args[@]}" --concurrency 1
    seq_wall=$WALL
    # Sequential cost per rule, then scaled to RULES: every rule is one GET of one latency,
    # plus one summary page per PAGE_SIZE rules, so the scale is linear in the rule count.
    seq_est=$(awk -v w="$seq_wall" -v s="$SEQ_RULES" -v n="$RULES" 'BEGIN { printf "%.1f", w * n / s }')
    echo "| sequential (--concurrency 1), $SEQ_RULES rules, ${LATENCY_MS} ms | $seq_wall s | scaled to $RULES rules: $seq_est s | rules_read $READ, rules_failed $FAILED, peak RSS $RSS_MB MB |"

    start_sandbox --generate "$RULES" --latency-ms "$LATENCY_MS"
    mapfile -t args < <(site_args)
    pages=$(((RULES + PAGE_SIZE - 1) / PAGE_SIZE))
    for c in $CONCURRENCIES; do
        local walls=() rss=() bound paged med best
        bound=$(awk -v n="$RULES" -v l="$lat_s" -v c="$c" 'BEGIN { printf "%.2f", n * l / c }')
        paged=$(awk -v b="$bound" -v p="$pages" -v l="$lat_s" 'BEGIN { printf "%.2f", b + p * l }')
        for i in $(seq "$REPEAT"); do
            run_scan "c$c-$i" "$(awk -v b="$bound" 'BEGIN { printf "%d", b * 4 + 60 }')" "${args[@]}" --concurrency "$c"
            walls+=("$WALL")
            rss+=("$RSS_MB")
        done
        med=$(printf '%s\n' "${walls[@]}" | median)
        best=$(printf '%s\n' "${walls[@]}" | sort -g | head -n1)
        echo "| --concurrency $c, $RULES rules, ${LATENCY_MS} ms | median $med s (min $best, runs: ${walls[*]}) | bound N*lat/c = $bound s (x$(ratio "$med" "$bound")); with $pages sequential summary pages = $paged s (x$(ratio "$med" "$paged")) | speed-up vs sequential: x$(ratio "$seq_est" "$med"); rules_read $READ, rules_failed $FAILED; peak RSS ${rss[*]} MB |"
    done
    stop_sandbox
}

# --- 2: a rate-limited site ---------------------------------------------------------------

bench_ratelimit() {
    start_sandbox --generate "$RL_RULES" --latency-ms "$RL_LATENCY_MS" --rate-limit "$RL_RATE"
    mapfile -t args < <(site_args)
    local pages=$(((RL_RULES + PAGE_SIZE - 1) / PAGE_SIZE)) c
    for c in $RL_CONCURRENCIES; do
        # Let the bucket refill to its burst (one second's worth) before each run.
        sleep 2
        run_scan "rl-c$c" $((RL_RULES / RL_RATE * 5 + 60)) "${args[@]}" --concurrency "$c"
        # Successful requests: every rule GET plus the summary pages (tenant_info is outside
        # the bucket's concern for this ratio; one request either way).
        local ok=$((${READ/\?/0} + pages))
        # The bucket admits at most burst + rate * T requests in T seconds (burst = rate).
        local allowed share raw
        allowed=$(awk -v r="$RL_RATE" -v t="$WALL" 'BEGIN { printf "%.0f", r + r * t }')
        share=$(awk -v o="$ok" -v a="$allowed" 'BEGIN { printf "%.1f", 100 * o / a }')
        raw=$(awk -v o="$ok" -v t="$WALL" 'BEGIN { printf "%.1f", o / t }')
        echo "| rate limit $RL_RATE req/s, $RL_RULES rules, ${RL_LATENCY_MS} ms, --concurrency $c | $WALL s | $ok successful requests = $raw req/s ($(ratio "$raw" "$RL_RATE")x the rate); share of what the bucket allows (rate*T + burst = $allowed): $share % | rules_read $READ, rules_failed $FAILED, exit $RC |"
    done
    stop_sandbox
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

file_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

bench_fromfile() {
    local per_rule n big mb
    # Size one rule as written, then pick the count that makes about EXPORT_MB.
    write_export "$WORK/probe.json" 30
    per_rule=$(($(stat -c %s "$WORK/probe.json") / 30))
    n=$((EXPORT_MB * 1048576 / per_rule))
    big="$WORK/export-big.json"
    log "writing a ${EXPORT_MB} MB export ($n rules)"
    write_export "$big" "$n"
    mb=$(file_mb "$big")
    run_scan "file-big" 300 --from-file "$big"
    echo "| scan --from-file, $mb MB export ($n rules) | $WALL s | $(ratio "$mb" "$WALL") MB/s | peak RSS $RSS_MB MB; rules_read $READ; JSON output $(file_mb "$WORK/file-big.json") MB |"
    rm -f -- "$big"
    for n in $FILE_RULES; do
        write_export "$WORK/export-$n.json" "$n"
        mb=$(file_mb "$WORK/export-$n.json")
        run_scan "file-$n" 120 --from-file "$WORK/export-$n.json"
        echo "| scan --from-file, $n rules ($mb MB) | $WALL s | $(ratio "$mb" "$WALL") MB/s | peak RSS $RSS_MB MB; rules_read $READ |"
        rm -f -- "$WORK/export-$n.json"
    done
    # Same sizes with no credential at all: separates the streaming reader's memory from
    # the findings the report keeps.
    for n in $FILE_RULES; do
        write_export "$WORK/export-clean-$n.json" "$n" clean
        mb=$(file_mb "$WORK/export-clean-$n.json")
        run_scan "clean-$n" 120 --from-file "$WORK/export-clean-$n.json"
        echo "| scan --from-file, $n rules without credentials ($mb MB) | $WALL s | $(ratio "$mb" "$WALL") MB/s | peak RSS $RSS_MB MB; rules_read $READ |"
        rm -f -- "$WORK/export-clean-$n.json"
    done
}

# --- main --------------------------------------------------------------------------------

# Wrapped in a function so bash has parsed all of it before running: editing or pulling
# this file during a long run cannot change what the run executes.
main() {
    log "machine: $(nproc) cores; $(free -h | awk '/^Mem:/ { print $2 " RAM" }'); load $(cut -d' ' -f1-3 /proc/loadavg)"
    log "binary: $BIN ($("$BIN" --version 2>/dev/null || echo 'version unknown'))"
    echo "| benchmark | time | figure | notes |"
    echo "|---|---|---|---|"
    [[ $# -gt 0 ]] || set -- all
    for what in "$@"; do
        case $what in
        concurrency) bench_concurrency ;;
        ratelimit) bench_ratelimit ;;
        fromfile) bench_fromfile ;;
        all)
            # Not joined with &&: set -e does not apply inside a function run as part of a list.
            bench_concurrency
            bench_ratelimit
            bench_fromfile
            ;;
        *) die "unknown benchmark '$what' (concurrency, ratelimit, fromfile, all)" ;;
        esac
    done
}

main "$@"
