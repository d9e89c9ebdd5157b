#!/usr/bin/env bash
# Part "tokens" of `make bench` (run by bench/run.sh, which exports SR_BIN,
# BENCH_* and the bench_* reporting functions): card tokenization throughput,
# POST /v1/tokens on the vault, as a ratio against the RSA-2048 private-key
# operations per second this machine does on all its cores
# (`openssl speed -multi $(nproc) rsa2048`, sign/s), measured in the same run.
# Each tokenization costs one RSA-2048 private-key operation (the JWE's
# RSA-OAEP key unwrap), so the ratio says how much of the machine's RSA
# capacity survives everything else a tokenization does: TLS, HTTP, JSON,
# AES-GCM, the card checks, the sandbox verification, sealing, and one
# durable (fsync'd) database transaction with the audit record.
#
# How:
#   - a vault from `strongroom init` (SQLite, synchronous=FULL: durable
#     writes), rate limits raised out of the way, sandbox latency 0, iat
#     window widened so pre-made JWEs stay valid through the run;
#   - distinct JWEs made beforehand (bench/tokens_jwe.mjs, WebCrypto, as the
#     browser does), one per request, never repeated (a repeat is a replay);
#   - wrk over HTTPS keep-alive (bench/tokens.lua), counting 201s only;
#   - openssl speed -multi $(nproc) rsa2048 while the vault is idle.
# Neither side is pinned: the reference uses every core, so the vault may
# too (its event loop and worker pool); wrk shares the cores, which is the
# vault's handicap, reported as is. Rounds alternate which goes first;
# medians are reported. Goal: ratio >= 0.75.
set -euo pipefail
: "${SR_BIN:?bench/tokens.sh runs through bench/run.sh}"

tmp=$BENCH_TMP
secs=$BENCH_SECONDS
warm=$BENCH_WARMUP_SECONDS
rounds=$BENCH_ROUNDS
conns=${BENCH_TOKENS_CONNECTIONS:-16}
workers=${BENCH_TOKENS_WORKERS:-$(($(nproc) * 2))}
cores=$(nproc)
vault_pid=''

die() {
	printf 'bench/tokens.sh: %s\n' "$*" >&2
	exit 1
}
stop_vault() {
	[ -n "$vault_pid" ] || return 0
	kill -TERM "$vault_pid" 2>/dev/null || true
	wait "$vault_pid" 2>/dev/null || true
	vault_pid=''
}
trap stop_vault EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "null"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

inst=$tmp/instance
bench_command "$SR_BIN init --dir $inst"
"$SR_BIN" init --dir "$inst" >"$tmp/init.log" 2>&1 || {
	cat "$tmp/init.log" >&2
	die "strongroom init failed"
}
pk=$(sed -n 's/.*"vault_publishable_key": *"\([^"]*\)".*/\1/p' "$inst/credentials.json")
[ -n "$pk" ] || die "no vault_publishable_key in credentials.json"
port=$(free_port)
export STRONGROOM_VAULT_TOKENS_PER_MINUTE_PER_KEY=1000000 \
	STRONGROOM_VAULT_TOKENS_PER_MINUTE_PER_IP=1000000 \
	STRONGROOM_VAULT_TOKENS_PER_MINUTE_PER_CARD=1000000 \
	STRONGROOM_VAULT_SANDBOX_LATENCY_MS=0 \
	STRONGROOM_VAULT_TOKEN_IAT_SKEW_S=3600 \
	STRONGROOM_SERVER_WORKERS=$workers \
	STRONGROOM_LOG_LEVEL=info
bench_command "STRONGROOM_SERVER_WORKERS=$workers ... $SR_BIN vault --config $inst/strongroom.conf --listen 127.0.0.1:$port"
"$SR_BIN" vault --config "$inst/strongroom.conf" --listen "127.0.0.1:$port" >"$tmp/vault.out" 2>"$tmp/vault.log" &
vault_pid=$!
ca=$inst/tls/ca.crt
for ((i = 0; i < 300; i++)); do
	curl -sf --cacert "$ca" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	kill -0 "$vault_pid" 2>/dev/null || break
	sleep 0.1
done
curl -sf --cacert "$ca" -o "$tmp/jwks.json" "https://127.0.0.1:$port/v1/jwks.json" || {
	tail -n 20 "$tmp/vault.log" >&2
	die "the vault did not become ready"
}

# Enough JWEs for every request: a generous bound on the rate times the time.
rsa_once=$(openssl speed -multi "$cores" -seconds 1 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF - 1) }')
per_round=$(awk -v r="${rsa_once:-2000}" -v s="$((secs + warm))" 'BEGIN { printf "%d", r * 2 * s + 1000 }')
total=$((per_round * rounds))
echo "  making $total distinct JWEs (node, WebCrypto)"
bench_command "node $BENCH_DIR/tokens_jwe.mjs jwks.json $total jwes.txt"
node "$BENCH_DIR/tokens_jwe.mjs" "$tmp/jwks.json" "$total" "$tmp/jwes.txt"
split -l "$per_round" -d -a 3 "$tmp/jwes.txt" "$tmp/jwes."

# CPU time (ticks, all threads) the vault has used so far.
cpu_ticks() { sed 's/^.*) //' "/proc/$vault_pid/stat" | awk '{ print $12 + $13 }'; }
hz=$(getconf CLK_TCK)

measure_tokens() { # round file -> prints "tokens/s tokens-per-vault-CPU-second" (201s only)
	local out=$tmp/wrk.$1.txt c0 c1
	c0=$(cpu_ticks)
	BENCH_PK=$pk BENCH_JWE_FILE=$2 wrk -t1 -c"$conns" -d"$((secs + warm))s" --timeout 10s \
		-s "$BENCH_DIR/tokens.lua" "https://127.0.0.1:$port/v1/tokens" >"$out" 2>"$tmp/wrk.$1.err" || {
		cat "$tmp/wrk.$1.err" >&2
		return 1
	}
	local created other exhausted
	read -r created other exhausted < <(sed -n 's/^TOKENS created=\([0-9]*\) other=\([0-9]*\) exhausted=\([0-9]*\)/\1 \2 \3/p' "$out")
	[ "${exhausted:-1}" = 0 ] || echo "  warning: round $1 ran out of JWEs (${exhausted} repeats)" >&2
	[ "${other:-1}" = 0 ] || echo "  warning: round $1 had ${other} answers other than 201" >&2
	c1=$(cpu_ticks)
	# wrk's duration includes the warm-up: count over the whole run.
	awk -v c="$created" -v s="$((secs + warm))" -v t="$((c1 - c0))" -v hz="$hz" \
		'BEGIN { printf "%.1f %.1f\n", c / s, (t > 0 ? c / (t / hz) : 0) }'
}
measure_rsa() { # -> "ops/s on all cores" "ops per CPU-second (one process)"
	local multi one
	multi=$(openssl speed -multi "$cores" -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF - 1) }')
	one=$(openssl speed -seconds 1 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF - 1) }')
	echo "$multi $one"
}

bench_command "BENCH_PK=pk_... BENCH_JWE_FILE=jwes.N wrk -t1 -c$conns -d$((secs + warm))s -s bench/tokens.lua https://127.0.0.1:$port/v1/tokens"
bench_command "openssl speed -multi $cores -seconds $secs rsa2048"
: >"$tmp/tok.txt"
: >"$tmp/rsa.txt"
: >"$tmp/tokcpu.txt"
: >"$tmp/rsacpu.txt"
for ((r = 0; r < rounds; r++)); do
	f=$(printf '%s/jwes.%03d' "$tmp" "$r")
	if ((r % 2 == 0)); then
		t=$(measure_tokens "$r" "$f")
		o=$(measure_rsa)
	else
		o=$(measure_rsa)
		t=$(measure_tokens "$r" "$f")
	fi
	read -r t tc <<<"$t"
	read -r o oc <<<"$o"
	echo "$t" >>"$tmp/tok.txt"
	echo "$o" >>"$tmp/rsa.txt"
	echo "$tc" >>"$tmp/tokcpu.txt"
	echo "$oc" >>"$tmp/rsacpu.txt"
	printf '  round %d: %s tokens/s, %s RSA-2048 private ops/s (%d cores), ratio %s;' "$((r + 1))" "$t" "$o" "$cores" \
		"$(awk -v t="$t" -v o="$o" 'BEGIN { if (o + 0 > 0) printf "%.3f", t / o; else print "null" }')"
	printf ' per CPU-second: %s tokens, %s RSA ops\n' "$tc" "$oc"
done
# BENCH_PROFILE=1: perf profile of the vault during one more run.
if [ "${BENCH_PROFILE:-0}" = 1 ] && command -v perf >/dev/null; then
	node "$BENCH_DIR/tokens_jwe.mjs" "$tmp/jwks.json" "$per_round" "$tmp/jwes.profile"
	f=$tmp/jwes.profile
	perf record -q -o "$tmp/perf.data" -p "$vault_pid" -- sleep "$secs" >/dev/null 2>&1 &
	perf_pid=$!
	STRONGROOM_BENCH_PROFILE_RUN=1 measure_tokens profile "$f" >/dev/null || true
	wait "$perf_pid" || true
	# Where the vault's CPU goes by library first (Debian's libcrypto has
	# no symbols, so its addresses would scatter over many lines), then
	# the hottest symbols.
	echo '  vault CPU by library:'
	perf report -q -i "$tmp/perf.data" --sort dso 2>/dev/null | head -n 10 || true
	echo '  hottest symbols:'
	perf report -q -i "$tmp/perf.data" --sort dso,symbol 2>/dev/null | head -n 25 || true
fi
tok=$(median <"$tmp/tok.txt")
rsa=$(median <"$tmp/rsa.txt")
bench_info backend sqlite
bench_info workers "$workers"
bench_info connections "$conns"
bench_metric tokens_per_s "$tok" "1/s"
bench_metric rsa2048_private_ops_per_s "$rsa" "1/s"
bench_ratio "tokenizations/s vs RSA-2048 private ops/s" "$tok" "$rsa" 0.75
# The same per CPU-second (vault: all its threads; openssl: one process),
# which holds up when other work shares the machine.
tokc=$(median <"$tmp/tokcpu.txt")
rsac=$(median <"$tmp/rsacpu.txt")
bench_metric tokens_per_vault_cpu_s "$tokc" "1/s"
bench_metric rsa2048_private_ops_per_cpu_s "$rsac" "1/s"
bench_ratio "tokenizations vs RSA-2048 ops per CPU-second" "$tokc" "$rsac" 0.75
echo "tokens_per_s=$tok rsa2048_sign_per_s=$rsa"
