# benches/lib.sh: shell helpers shared by the end-to-end benchmark scripts (scan.sh,
# rotate.sh). Sourced, never run; the caller sets ROOT (the repository) and then calls
# bench_init.
#
# Why shared: every benchmark needs the same careful parts, and a copy would drift: a
# loopback-only sandbox that is always stopped, a fake admin token that is never printed,
# and one timed run of a process under `timeout` with its peak RSS from GNU time.
#
# What a caller gets after bench_init: BIN (the release binary), WORK (a private 0700 temp
# dir, removed on exit), LOGIN and "$WORK/token" (the bench admin and its fake token, in a
# 0600 file), SEED, PAGE_SIZE, HAVE_TIME. start_sandbox sets SITE and SANDBOX_ACCOUNTS;
# timed sets WALL, RSS_MB, RC, LOAD and T0_NS.

BIN=${AUTOREKEY_BIN:-$ROOT/target/release/autorekey}
SEED=7
PAGE_SIZE=100 # the client's summary page limit (crates/autorekey-client/src/client.rs PAGE_LIMIT)
LOGIN=bench-admin@sandbox.example
SANDBOX_PID=""
SANDBOX_ACCOUNTS=""

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 2
}

# bench_init: check prerequisites, make the private work dir, arm the EXIT trap, and write
# a fresh fake admin token (never printed: it goes to 0600 files only).
bench_init() {
    [[ -x $BIN ]] || die "no binary at $BIN: run 'cargo build --release' first"
    command -v jq >/dev/null || die "jq is required to read autorekey's JSON output (apt-get install -y jq)"
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
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    local token
    token="FAKE-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    (
        umask 077
        printf '%s' "$token" >"$WORK/token"
        printf '{"accounts":[{"email":"%s","admin":true,"tokens":["%s"]}]}\n' \
            "$LOGIN" "$token" >"$WORK/accounts.json"
    )
}

# machine_facts: one stderr line that a results file can quote (what ran, where, how busy).
machine_facts() {
    local commit
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || commit="$commit+local changes in src/"
    log "machine: $(nproc) cores; $(free -h | awk '/^Mem:/ { print $2 " RAM" }'); load $(cut -d' ' -f1-3 /proc/loadavg); $(rustc -V 2>/dev/null || echo 'rustc unknown')"
    # The binary may be a copy (AUTOREKEY_BIN) built from another commit: its build time is
    # what ties it to a commit, so both are shown.
    log "binary: $BIN ($("$BIN" --version 2>/dev/null || echo 'version unknown')), built $(date -u -r "$BIN" '+%F %T UTC'); repository now at commit $commit"
}

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
    [[ -n ${WORK:-} ]] && rm -rf -- "$WORK"
}

# start_sandbox ARGS...: serve generated rules on 127.0.0.1; sets SITE and, when rules are
# generated, SANDBOX_ACCOUNTS (the 0600 file of generated accounts and their tokens).
start_sandbox() {
    stop_sandbox
    # Emptied here, not by the redirection below: that happens in the child, and until it
    # does the loop would read the previous sandbox's URL.
    : >"$WORK/sandbox.out"
    : >"$WORK/sandbox.err"
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
    # The accounts line follows the URL on stderr; give it a moment to be written.
    for _ in $(seq 40); do
        SANDBOX_ACCOUNTS=$(sed -n 's/.*(mode 0600): //p' "$WORK/sandbox.err" | head -n1)
        [[ -n $SANDBOX_ACCOUNTS || ! " $* " =~ " --generate " ]] && break
        sleep 0.05
    done
    log "sandbox $SITE ($*)"
}

# A run that fails because the sandbox is gone measures nothing: stop with its stderr.
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

# timed LABEL TIMEOUT_S CMD...: one timed process, stdout to $WORK/LABEL.out and stderr to
# $WORK/LABEL.err. Sets WALL (s, around the process, so start-up included), RSS_MB (its
# peak RSS, GNU time), RC, LOAD (the 1-minute load average when it ended) and T0_NS (its
# start, from `date +%s%N`, for callers that time phases inside the run). Only
# autorekey and jq run here, and neither prints a token, so a failure's stderr tail is safe
# to show.
timed() {
    local label=$1 limit=$2 t1
    shift 2
    local -a cmd=("$@")
    ((HAVE_TIME)) && cmd=(/usr/bin/time -v -o "$WORK/$label.time" "${cmd[@]}")
    RC=0
    T0_NS=$(date +%s%N)
    timeout --signal=INT --kill-after=5 "$limit" "${cmd[@]}" >"$WORK/$label.out" 2>"$WORK/$label.err" || RC=$?
    t1=$(date +%s%N)
    LOAD=$(cut -d' ' -f1 /proc/loadavg)
    WALL=$(awk -v a="$T0_NS" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    RSS_MB=n/a
    if ((HAVE_TIME)) && [[ -s $WORK/$label.time ]]; then
        RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' \
            "$WORK/$label.time")
    fi
    if [[ $RC != 0 ]]; then
        [[ $RC == 124 ]] && log "$label: TIMEOUT after ${limit}s"
        log "$label: exit $RC; last lines of its stderr:"
        tail -n 15 "$WORK/$label.err" | sed 's/^/[bench]   /' >&2
    fi
    check_sandbox
}

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# calc EXPR [VAR=VALUE]...: awk arithmetic printed with printf's %.2f, e.g. calc 'n * l / c' n=500 ...
calc() {
    local expr=$1
    shift
    local -a vars=()
    for v in "$@"; do vars+=(-v "$v"); done
    awk "${vars[@]}" "BEGIN { printf \"%.2f\", $expr }"
}

file_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# default_concurrency SUBCOMMAND: the --concurrency default the binary documents in --help,
# so a "default" row measures what users get without restating it here.
default_concurrency() {
    "$BIN" "$1" --help | sed -n '/--concurrency/,/default:/ s/.*\[default: \([0-9]*\)\].*/\1/p' | head -n1
}
