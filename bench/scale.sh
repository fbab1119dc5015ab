#!/usr/bin/env bash
# scripts/bench --scale [accounts, default 1000000]: Tokenflow on PostgreSQL with a million
# accounts and a million live sessions (bench/seed.sql, generate_series), beside a small
# database (SMALL_USERS, default 10000) measured the same way:
#   - login, refresh and first-sight /api/me (a token and a session no instance has seen:
#     signature verify and a session read) p50/p99, and the big/small ratio (target <= 1.2);
#   - the admin's account search and audit pages p99 (target < 50 ms);
#   - memory (RSS) and cache sizes after FIRST_SIGHT distinct sessions (default 200000, beyond
#     the caches' capacity): bounded by configuration, not by the number of sessions;
#   - two instances on the one database, each pinned to a core of its own: logins/s against
#     one and against both, and how long a logout on one takes to be refused by the other
#     (target <= 2 s).
source "$(dirname "$0")/../scripts/lib.sh"
USERS="${1:-1000000}"
SMALL="${SMALL_USERS:-10000}"
FIRST_SIGHT="${FIRST_SIGHT:-200000}"
D="${DURATION:-10}"
PG="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
PSQL=(psql -q -v ON_ERROR_STOP=1)
command -v wrk >/dev/null || apt_install wrk
command -v psql >/dev/null || apt_install postgresql-client
ensure_postgres
ensure_wasm_toolchain
ensure_node_modules
build_site release
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

pct() { awk -v p="$2" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' "$1"; }
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
field() { sed "s/.*\"$1\":\"\([^\"]*\)\".*/\1/"; }

# start NAME PORT DB [VAR=VALUE...]: a release server, waited for.
start() {
    local name="$1" port="$2" db="$3"; shift 3
    env LEPTOS_SITE_ADDR="127.0.0.1:$port" DATABASE_URL="$PG/$db" AUTH_ISSUER="http://bench.scale" \
        AUTH_RATE_LIMIT_PER_MIN=0 AUTH_LOGIN_MAX_FAILURES=0 RUST_LOG=warn "$@" target/release/tokenflow \
        > "$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$!"
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
    echo "server $name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1
}
stop() { local pid; pid="PID_$1"; kill "${!pid}"; wait "${!pid}" 2>/dev/null || true; }

# fresh DB N: a new database with N seeded accounts, migrated by the server itself.
fresh() {
    local db="$1" n="$2" started
    "${PSQL[@]}" "$PG/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    start migrate 3290 "$db"; stop migrate
    started=$(date +%s.%N)
    sed "s/USERS/$n/g" bench/seed.sql | "${PSQL[@]}" "$PG/$db"
    # As a database that has been running would be: vacuumed (hint bits and visibility map set,
    # so the first reads do not write) and checkpointed.
    "${PSQL[@]}" "$PG/$db" -c "VACUUM (ANALYZE)" -c "CHECKPOINT"
    awk -v a="$started" -v b="$(date +%s.%N)" -v n="$n" 'BEGIN { printf "seeded %d accounts in %.1f s\n", n, b - a }' >&2
}

# first_sight OUT KID BASE FIRST COUNT: /api/me once with each of COUNT tokens minted for the
# seeded sessions FIRST.., none seen before; wrk is stopped when they run out.
first_sight() {
    local out="$1" kid="$2" base="$3" first="$4" count="$5" load
    node bench/mint.mjs "$WORK/key.pem" "$kid" "http://bench.scale" "$first" "$count" > "$WORK/first.tokens"
    rm -f "$WORK/first.tokens.done"
    TOKENS="$WORK/first.tokens" wrk -t1 -c8 -d600s --latency -s bench/tokens.lua "$base/api/me" > "$WORK/$out" &
    load=$!
    until [ -e "$WORK/first.tokens.done" ] || ! kill -0 "$load" 2>/dev/null; do sleep 0.2; done
    kill -INT "$load" 2>/dev/null || true
    wait "$load" || true
    if grep -q "Non-2xx" "$WORK/$out"; then echo "first-sight tokens were refused:" >&2; cat "$WORK/$out" >&2; exit 1; fi
}

# measure LABEL DB N: the latencies of one database, into $WORK/LABEL.*
measure() {
    local label="$1" db="$2" n="$3" base="http://127.0.0.1:3300" admin kid
    say "$label: $n accounts"
    fresh "$db" "$n"
    start "$label" 3300 "$db" METRICS_ADDR=127.0.0.1:3309
    curl -sf -o /dev/null -X POST "$base/api/auth/signup" -H 'content-type: application/json' \
        -d '{"email":"bench@example.com","password":"bench password 1"}'
    curl -sf -o /dev/null -X POST "$base/api/auth/signup" -H 'content-type: application/json' \
        -d '{"email":"ops@example.com","password":"bench password 1"}'
    DATABASE_URL="$PG/$db" RUST_LOG=warn target/release/tokenflow users promote ops@example.com >/dev/null
    admin=$(curl -sf -X POST "$base/api/auth/login" -H 'content-type: application/json' \
        -d '{"email":"ops@example.com","password":"bench password 1"}' | field access_token)

    say "$label: logins"
    wrk -t1 -c4 -d"${D}s" --latency -s bench/login.lua "$base/api/auth/login" > "$WORK/$label.login"
    say "$label: refreshes (each response's token spent next)"
    for _ in $(seq 1 32); do
        curl -sf -X POST "$base/api/auth/login" -H 'content-type: application/json' \
            -d '{"email":"bench@example.com","password":"bench password 1"}' | field refresh_token
        echo
    done > "$WORK/refresh.tokens"
    TOKENS="$WORK/refresh.tokens" wrk -t1 -c8 -d"${D}s" --latency -s bench/refresh.lua "$base/api/auth/refresh" > "$WORK/$label.refresh"

    say "$label: first-sight /api/me (tokens minted for seeded sessions)"
    read -r kid < <("${PSQL[@]}" -At "$PG/$db" -c "SELECT kid FROM signing_keys WHERE retired_at IS NULL AND withdrawn_at IS NULL ORDER BY created_at DESC LIMIT 1")
    "${PSQL[@]}" -At "$PG/$db" -c "SELECT private_pem FROM signing_keys WHERE kid = '$kid'" > "$WORK/key.pem"
    # The same number of first sights on both databases for the latencies (as many as the small
    # one has sessions), then, on the big one, FIRST_SIGHT more to fill the caches.
    first_sight "$label.first" "$kid" "$base" 1 "$SMALL"
    if [ "$n" -gt "$SMALL" ]; then
        first_sight "$label.fill" "$kid" "$base" "$((SMALL + 1))" "$(( FIRST_SIGHT < n - SMALL ? FIRST_SIGHT : n - SMALL ))"
    fi
    local pid="PID_$label"
    awk '/^VmRSS:/ { print $2 }' "/proc/${!pid}/status" > "$WORK/$label.rss"
    curl -sf http://127.0.0.1:3309/metrics | grep '^tokenflow_cache_entries' > "$WORK/$label.caches" || true

    say "$label: the admin's search and audit pages"
    local someone; someone=$("${PSQL[@]}" -At "$PG/$db" -c "SELECT md5('user' || $((n / 2)))::uuid")
    wrk -t1 -c4 -d"${D}s" --latency -H "Authorization: Bearer $admin" "$base/api/admin/users?q=seed$((n / 2))@" > "$WORK/$label.search"
    wrk -t1 -c4 -d"${D}s" --latency -H "Authorization: Bearer $admin" "$base/api/admin/users" > "$WORK/$label.list"
    wrk -t1 -c4 -d"${D}s" --latency -H "Authorization: Bearer $admin" "$base/api/admin/audit?user_id=$someone" > "$WORK/$label.audit_user"
    wrk -t1 -c4 -d"${D}s" --latency -H "Authorization: Bearer $admin" "$base/api/admin/audit?type=login" > "$WORK/$label.audit"
    stop "$label"
}

measure small tokenflow_bench_small "$SMALL"
measure big tokenflow_bench_big "$USERS"

say "two instances on the big database"
# Each instance on a core of its own, as each would have its own machine: unpinned, one
# instance already hashes on every core this machine has, and a second could only share them.
start one 3301 tokenflow_bench_big
start two 3302 tokenflow_bench_big
taskset -a -p -c 0 "$PID_one" >/dev/null
taskset -a -p -c 1 "$PID_two" >/dev/null
# The instances' CPU time (user + system, clock ticks) too: logins per instance CPU-second
# shows whether a second instance does as much with its core as the first (no contention in
# the database), which logins/s alone cannot on a machine whose database and load generator
# take a share of both cores.
ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done; echo "$t"; }
T0=$(ticks "$PID_one")
wrk -t1 -c32 -d"${D}s" -s bench/login.lua http://127.0.0.1:3301/api/auth/login > "$WORK/one.logins"
ONE_CPU=$(( $(ticks "$PID_one") - T0 ))
T1=$(ticks "$PID_one" "$PID_two")
wrk -t1 -c32 -d"${D}s" -s bench/login.lua http://127.0.0.1:3301/api/auth/login > "$WORK/both.logins.1" &
LOAD=$!
wrk -t1 -c32 -d"${D}s" -s bench/login.lua http://127.0.0.1:3302/api/auth/login > "$WORK/both.logins.2"
wait "$LOAD"
T2=$(ticks "$PID_one" "$PID_two")
BOTH_CPU=$(( T2 - T1 ))
# A logout answered by one instance, refused by the other: how long until it is.
access=$(curl -sf -X POST http://127.0.0.1:3301/api/auth/login -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench password 1"}' | field access_token)
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $access" http://127.0.0.1:3302/api/me)" = 200 ]
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $access" http://127.0.0.1:3301/api/auth/logout
started=$(date +%s%N)
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $access" http://127.0.0.1:3302/api/me)" = 401 ]; do
    sleep 0.01
    [ $(( ($(date +%s%N) - started) / 1000000 )) -gt 10000 ] && break
done
REVOKED_MS=$(( ($(date +%s%N) - started) / 1000000 ))

echo
echo "Tokenflow at scale ($(nproc) cores, PostgreSQL, release build; server, PostgreSQL and wrk share the machine)"
printf '%-40s %16s %16s %8s\n' "" "$SMALL accounts" "$USERS accounts" "ratio"
row() {
    local name="$1" kind="$2" p="$3" a b
    a=$(pct "$WORK/small.$kind" "$p"); b=$(pct "$WORK/big.$kind" "$p")
    awk -v n="$name" -v a="$a" -v b="$b" 'BEGIN { printf "%-40s %13.2f ms %13.2f ms %8.2f\n", n, a, b, b / a }'
}
row "login p50" login 50%; row "login p99" login 99%
row "refresh p50" refresh 50%; row "refresh p99" refresh 99%
row "first-sight /api/me p50" first 50%; row "first-sight /api/me p99" first 99%
row "admin search (email contains) p99" search 99%
row "admin account list p99" list 99%
row "audit page of one account p99" audit_user 99%
row "audit page by type p99" audit 99%
awk -v a="$(rps "$WORK/small.first")" -v b="$(rps "$WORK/big.first")" 'BEGIN { printf "%-40s %16.0f %16.0f\n", "first-sight /api/me requests/s", a, b }'
awk -v a="$(cat "$WORK/small.rss")" -v b="$(cat "$WORK/big.rss")" -v n="$FIRST_SIGHT" 'BEGIN { printf "%-40s %13.1f MiB %13.1f MiB   (the big one after %d more distinct sessions)\n", "RSS", a / 1024, b / 1024, n }'
echo "caches after $FIRST_SIGHT more first sights (big): $(tr '\n' ' ' < "$WORK/big.caches")"
awk -v one="$(rps "$WORK/one.logins")" -v a="$(rps "$WORK/both.logins.1")" -v b="$(rps "$WORK/both.logins.2")" \
    'BEGIN { printf "%-40s %16.1f %16.1f %8.2f   (one instance, two instances)\n", "logins/s", one, a + b, (a + b) / one }'
awk -v hz="$(getconf CLK_TCK)" -v one="$(awk '/requests in/ { print $1 }' "$WORK/one.logins")" \
    -v a="$(awk '/requests in/ { print $1 }' "$WORK/both.logins.1")" -v b="$(awk '/requests in/ { print $1 }' "$WORK/both.logins.2")" \
    -v c1="$ONE_CPU" -v c2="$BOTH_CPU" \
    'BEGIN { x = one / (c1 / hz); y = (a + b) / (c2 / hz); printf "%-40s %16.1f %16.1f %8.2f   (per instance CPU-second)\n", "logins per instance CPU-second", x, y, y / x }'
printf '%-40s %13s ms   (target <= 2000)\n' "logout on one, refused by the other" "$REVOKED_MS"
