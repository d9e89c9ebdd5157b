#!/usr/bin/env bash
# Part "http" of `make bench` (run by bench/run.sh, which exports SR_BIN,
# BENCH_* and the bench_* reporting functions). Compares strongroom's
# platform service with nginx serving the same /healthz body as a static
# file, on the same certificate, TLS settings, thread count and CPU:
#
#   1. HTTPS keep-alive GET /healthz requests/s (wrk, after a warm-up);
#   2. new TLS 1.3 connections/s, full handshakes, no resumption
#      (openssl s_time -new), counted against wall-clock time.
#
# Layout on a 2-core machine: the server under test has CPU 0 to itself
# (taskset; nginx master + workers, or strongroom and all its threads), the
# client (wrk -t1, or s_time) has CPU 1. Only one server is under load at a
# time. Rounds alternate which server goes first, so a drift in background
# load does not favour one of them.
#
# Besides the wall-clock rates, the part samples each server's CPU time
# (/proc/PID/stat, all threads) over every measurement. When the server's
# core is not saturated the client was the bottleneck — which is the rule
# for handshakes here, since a TLS 1.3 client verifies an ECDSA signature
# (slower than the server's signing) — so the part also reports work per
# server CPU-second and its ratio, the number that stays meaningful then.
#
# Logging: strongroom writes one JSON line per request to stderr, redirected
# to a file; nginx writes its access log to a file. Both at their default
# level, both to files in the temporary folder.
#
# BENCH_SUBJECT=nginx replaces strongroom by a second nginx (an A/A check of
# the bench itself: the ratios should come out near 1.0). BENCH_PROFILE=1
# records `perf record -g` on strongroom during an extra keep-alive run after
# the measurements and prints the top functions.
set -euo pipefail
: "${SR_BIN:?bench/http.sh runs through bench/run.sh}"

tmp=$BENCH_TMP
secs=$BENCH_SECONDS
warm=$BENCH_WARMUP_SECONDS
rounds=$BENCH_ROUNDS
conns=$BENCH_CONNECTIONS
threads=$BENCH_THREADS
subject_kind=${BENCH_SUBJECT:-strongroom}
hs_clients=${BENCH_HANDSHAKE_CLIENTS:-2}
hz=$(getconf CLK_TCK)

pin_server=()
pin_client=()
[ -n "$BENCH_SERVER_CPUS" ] && pin_server=(taskset -c "$BENCH_SERVER_CPUS")
[ -n "$BENCH_CLIENT_CPUS" ] && pin_client=(taskset -c "$BENCH_CLIENT_CPUS")

sr_pid=''
declare -A ng_pid=()

log() { printf '  %s\n' "$*"; }
die() {
	printf 'bench/http.sh: %s\n' "$*" >&2
	exit 1
}

# ---- servers -------------------------------------------------------------

# A free loopback port: bind port 0, read the port back, release it. Another
# process could take it before the server binds; the start-up check catches
# that and the run fails loudly instead of measuring the wrong thing.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1, or fails
# after $2 seconds or when process $3 exits.
wait_port() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$3" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	stop_pid "$sr_pid"
	local n
	for n in "${!ng_pid[@]}"; do
		stop_pid "${ng_pid[$n]}"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_nginx NAME PORT: an nginx from bench/nginx.conf.in, prefix $tmp/NAME.
start_nginx() {
	local name=$1 port=$2 dir=$tmp/$1
	mkdir -p "$dir"
	local user=''
	[ "$(id -u)" = 0 ] && user='user root;'
	sed -e "s|@TMP@|$dir|g" -e "s|@USER@|$user|" -e "s|@WORKERS@|$threads|g" -e "s|@ADDR@|127.0.0.1:$port|g" \
		-e "s|@CERT@|$cert|g" -e "s|@KEY@|$key|g" -e "s|@WWW@|$tmp/www|g" \
		"$BENCH_DIR/nginx.conf.in" >"$dir/nginx.conf"
	local cmd=("${pin_server[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off; master_process on;')
	bench_command "${cmd[*]}"
	"${cmd[@]}" >"$dir/nginx.out" 2>&1 &
	ng_pid[$name]=$!
	if ! wait_port "$port" 10 "${ng_pid[$name]}"; then
		cat "$dir/nginx.out" "$dir/nginx-error.log" >&2 2>/dev/null || true
		die "nginx ($name) did not start on port $port"
	fi
}

start_strongroom() {
	local port=$1
	local cmd=(env STRONGROOM_SERVER_THREADS="$threads" STRONGROOM_LOG_LEVEL=info
		STRONGROOM_SERVER_DRAIN_TIMEOUT_MS=1000
		"${pin_server[@]}" "$SR_BIN" platform --config "$inst/strongroom.conf"
		--listen "127.0.0.1:$port")
	bench_command "${cmd[*]} 2>$tmp/platform.log"
	"${cmd[@]}" >"$tmp/platform.out" 2>"$tmp/platform.log" &
	sr_pid=$!
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q '"msg": *"listening"' "$tmp/platform.log" 2>/dev/null && return 0
		kill -0 "$sr_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$tmp/platform.log" >&2 || true
	die "strongroom platform did not log \"listening\" within 30 s"
}

# CPU time, in clock ticks, used so far by process $1 and its children's
# live processes (nginx workers): utime + stime of each, all threads.
cpu_ticks() {
	local pids=("$1") p total=0 t
	mapfile -t -O 1 pids < <(ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ')
	for p in "${pids[@]}"; do
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

now_ns() { date +%s%N; }

# ---- set-up --------------------------------------------------------------

inst=$tmp/instance
if [ "$subject_kind" = strongroom ]; then
	bench_command "$SR_BIN init --dir $inst"
	if ! "$SR_BIN" init --dir "$inst" >"$tmp/init.log" 2>&1; then
		cat "$tmp/init.log" >&2
		die "strongroom init failed"
	fi
else
	# A/A mode needs no strongroom: a throw-away CA and leaf like init's
	# (ECDSA P-256, SAN localhost + 127.0.0.1).
	mkdir -p "$inst/tls"
	(
		cd "$inst/tls"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj /CN=bench-ca -keyout ca.key -out ca.crt
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
			-keyout platform.key -out platform.csr
		openssl x509 -req -in platform.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') -out platform.crt
	) >"$tmp/certs.log" 2>&1 || {
		cat "$tmp/certs.log" >&2
		die "making test certificates failed"
	}
fi
cert=$inst/tls/platform.crt
key=$inst/tls/platform.key
ca=$inst/tls/ca.crt
for f in "$cert" "$key" "$ca"; do
	[ -r "$f" ] || die "missing $f after init"
done

bench_info subject "$subject_kind"
ref_port=$(free_port)
sub_port=$(free_port)
while [ "$sub_port" = "$ref_port" ]; do sub_port=$(free_port); done

mkdir -p "$tmp/www"
if [ "$subject_kind" = strongroom ]; then
	start_strongroom "$sub_port"
	# nginx serves exactly the bytes strongroom answers, so bodies are equal.
	if ! curl -sf --cacert "$ca" -o "$tmp/www/healthz" "https://127.0.0.1:$sub_port/healthz"; then
		die "strongroom GET /healthz failed"
	fi
else
	printf '{"status":"ok"}' >"$tmp/www/healthz"
	start_nginx subject "$sub_port"
	sr_pid=${ng_pid[subject]}
fi
start_nginx reference "$ref_port"
ref_pid=${ng_pid[reference]}

declare -A port=([reference]=$ref_port [subject]=$sub_port)
declare -A pid=([reference]=$ref_pid [subject]=$sr_pid)
declare -A label=([reference]=nginx [subject]=$subject_kind)

# What each server actually negotiates and answers, so the reader can check
# the comparison is like for like.
for s in reference subject; do
	hs=$(openssl s_client -connect "127.0.0.1:${port[$s]}" -CAfile "$ca" -brief </dev/null 2>&1 || true)
	proto=$(sed -n 's/^Protocol version: //p' <<<"$hs")
	suite=$(sed -n 's/^Ciphersuite: //p' <<<"$hs")
	group=$(sed -n 's/^\(Server\|Peer\) Temp Key: //p' <<<"$hs")
	verify=$(sed -n 's/^Verification: //p' <<<"$hs")
	resp=$(curl -s --cacert "$ca" -D "$tmp/$s.headers" -o "$tmp/$s.body" \
		-w '%{http_code} %{size_header} %{size_download}' "https://127.0.0.1:${port[$s]}/healthz" ||
		echo "000 0 0")
	read -r code hbytes bbytes <<<"$resp"
	headers=$(tr -d '\r' <"$tmp/$s.headers" | sed -n '2,$p' | cut -d: -f1 | grep -v '^$' | paste -sd, -)
	log "${label[$s]}: $proto $suite $group, certificate $verify; GET /healthz -> $code," \
		"$hbytes header + $bbytes body bytes ($headers)"
	bench_info "${label[$s]}_${s}_tls" "$proto $suite $group verify=$verify"
	bench_info "${label[$s]}_${s}_response" "$code header_bytes=$hbytes body_bytes=$bbytes headers=$headers"
	[ "$code" = 200 ] || die "${label[$s]} answered $code to GET /healthz"
	[ "$proto" = TLSv1.3 ] || log "WARNING: ${label[$s]} negotiated '$proto', not TLSv1.3"
done
cmp -s "$tmp/reference.body" "$tmp/subject.body" || log "WARNING: the /healthz bodies differ"

# ---- measurements --------------------------------------------------------

url_of() { echo "https://127.0.0.1:${port[$1]}/healthz"; }
# Rate per second of server CPU: rate / (cpu% / 100).
per_cpu() { awk -v r="$1" -v c="$2" 'BEGIN { if (c + 0 > 0) printf "%.1f", r * 100 / c; else print "null" }'; }
# Median of the rounds: one round disturbed by other load moves it little.
median() {
	tr ' ' '\n' <<<"$1" | grep . | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "null";
			else if (NR % 2) printf "%.1f", v[(NR + 1) / 2];
			else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# client OUT TIMES CMD...: runs CMD with output to OUT, then writes the CPU
# seconds (user + system) CMD used to TIMES, from bash's `times`.
client() {
	local out=$1 tf=$2
	shift 2
	bash -c 'tf=$1; shift; "$@" >"$0" 2>&1; rc=$?; times >"$tf"; exit $rc' "$out" "$tf" \
		timeout --foreground $((secs + 30)) "$@"
}
client_cpu_s() {
	awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
		END { printf "%.3f", s }' "$1"
}
pct() { awk -v a="$1" -v ns="$2" 'BEGIN { printf "%.1f", 100 * a / (ns / 1e9) }'; }

# Other work on this shared machine (the other helpers' builds and tests)
# can take the server's or the client's core during a measurement. It shows
# as a server that is not saturated under keep-alive load, or as a client
# that is not saturated during handshakes (the client is the bottleneck
# there). Such a measurement is repeated, up to $retries time(s); if it is
# still disturbed the last one counts and is flagged.
# Retries stop once the part has run for $retry_budget seconds, so the
# whole bench stays within a few minutes however busy the machine is.
retries=${BENCH_RETRIES:-1}
retry_budget=${BENCH_RETRY_BUDGET:-150}
disturbed=0

# keepalive SERVER ROUND: wrk warm-up, then the measured run.
declare -A ka_rps ka_cpu ka_eff hs_rate hs_cpu hs_eff
keepalive() {
	local s=$1 r=$2 url c0 c1 t0 t1 rps errs cpu ccpu try f
	url=$(url_of "$s")
	local cmd=("${pin_client[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$url")
	[ "$r" = 1 ] && bench_command "${cmd[*]}   # after a ${warm}s warm-up, same command with -d${warm}s"
	for ((try = 0; ; try++)); do
		f=$tmp/wrk-$s-$r
		client /dev/null "$f.warm" "${pin_client[@]}" wrk -t"$threads" -c"$conns" -d"${warm}s" "$url" || true
		c0=$(cpu_ticks "${pid[$s]}")
		t0=$(now_ns)
		client "$f.txt" "$f.times" "${cmd[@]}" || die "wrk against ${label[$s]} failed: $(cat "$f.txt")"
		t1=$(now_ns)
		c1=$(cpu_ticks "${pid[$s]}")
		cpu=$(pct "$(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN { print c / hz }')" $((t1 - t0)))
		ccpu=$(pct "$(client_cpu_s "$f.times")" $((t1 - t0)))
		awk -v c="$cpu" 'BEGIN { exit !(c < 85) }' || break
		if ((try >= retries || SECONDS > retry_budget)); then
			log "WARNING: ${label[$s]} still only $cpu% busy after $try retries: counted, but disturbed"
			disturbed=1
			break
		fi
		log "round $r keep-alive  ${label[$s]}: server only $cpu% busy (client $ccpu%): other load, retrying"
	done
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f.txt")
	[ -n "$rps" ] || die "no Requests/sec in wrk output: $(cat "$f.txt")"
	errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' "$f.txt")
	local p50 p99
	p50=$(awk '$1 == "50%" { print $2 }' "$f.txt")
	p99=$(awk '$1 == "99%" { print $2 }' "$f.txt")
	ka_rps[$s]="${ka_rps[$s]:-} $rps"
	ka_cpu[$s]="${ka_cpu[$s]:-} $cpu"
	ka_eff[$s]="${ka_eff[$s]:-} $(per_cpu "$rps" "$cpu")"
	bench_metric "round${r}_keepalive_rps_${label[$s]}_$s" "$rps" "requests/s"
	bench_metric "round${r}_keepalive_server_cpu_${label[$s]}_$s" "$cpu" "% of one core"
	bench_metric "round${r}_keepalive_client_cpu_${label[$s]}_$s" "$ccpu" "% of one core"
	log "round $r keep-alive  ${label[$s]}: $rps req/s, latency p50 $p50 p99 $p99," \
		"server CPU $cpu%, client CPU $ccpu%, errors $errs"
	[ "$errs" = 0 ] || log "WARNING: $errs failed requests against ${label[$s]} (see $f.txt)"
}

# handshakes SERVER ROUND: full TLS 1.3 handshakes for $secs seconds from
# $hs_clients s_time processes at once, all on the client CPU. One s_time
# alone is a ping-pong (it waits for each handshake before the next), which
# leaves both sides idle half the time and measures latency; several keep
# the client core saturated. s_time's own rate divides by its user CPU time;
# this one divides the connection count by wall-clock time measured around
# the runs.
handshakes() {
	local s=$1 r=$2 c0 c1 t0 t1 n k rate cpu ccpu f try csum c
	local cmd=("${pin_client[@]}" openssl s_time -connect "127.0.0.1:${port[$s]}" -new -tls1_3
		-CAfile "$ca" -verify 1 -time "$secs")
	[ "$r" = 1 ] && bench_command "${cmd[*]}   # $hs_clients at once, counts summed"
	for ((try = 0; ; try++)); do
		local spids=()
		c0=$(cpu_ticks "${pid[$s]}")
		t0=$(now_ns)
		for ((k = 0; k < hs_clients; k++)); do
			client "$tmp/s_time-$s-$r-$k.txt" "$tmp/s_time-$s-$r-$k.times" "${cmd[@]}" &
			spids+=($!)
		done
		for k in "${!spids[@]}"; do
			wait "${spids[$k]}" ||
				die "s_time against ${label[$s]} failed: $(cat "$tmp/s_time-$s-$r-$k.txt")"
		done
		t1=$(now_ns)
		c1=$(cpu_ticks "${pid[$s]}")
		n=0
		csum=0
		for ((k = 0; k < hs_clients; k++)); do
			f=$tmp/s_time-$s-$r-$k
			c=$(awk '/connections in .*s;/ { print $1; exit }' "$f.txt")
			[ -n "$c" ] && [ "$c" -gt 0 ] || die "s_time made no connection to ${label[$s]}: $(cat "$f.txt")"
			n=$((n + c))
			csum=$(awk -v a="$csum" -v b="$(client_cpu_s "$f.times")" 'BEGIN { print a + b }')
		done
		cpu=$(pct "$(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN { print c / hz }')" $((t1 - t0)))
		ccpu=$(pct "$csum" $((t1 - t0)))
		awk -v c="$ccpu" 'BEGIN { exit !(c < 85) }' || break
		if ((try >= retries || SECONDS > retry_budget)); then
			log "WARNING: client still only $ccpu% busy after $try retries: counted, but disturbed"
			disturbed=1
			break
		fi
		log "round $r handshakes  ${label[$s]}: client only $ccpu% busy: other load, retrying"
	done
	rate=$(awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", n / (ns / 1e9) }')
	hs_rate[$s]="${hs_rate[$s]:-} $rate"
	hs_cpu[$s]="${hs_cpu[$s]:-} $cpu"
	hs_eff[$s]="${hs_eff[$s]:-} $(per_cpu "$rate" "$cpu")"
	bench_metric "round${r}_handshakes_per_s_${label[$s]}_$s" "$rate" "connections/s (wall clock)"
	bench_metric "round${r}_handshake_server_cpu_${label[$s]}_$s" "$cpu" "% of one core"
	bench_metric "round${r}_handshake_client_cpu_${label[$s]}_$s" "$ccpu" "% of one core"
	log "round $r handshakes  ${label[$s]}: $n in $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }')s" \
		"= $rate/s, server CPU $cpu%, client CPU $ccpu%"
}

for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then order=(reference subject); else order=(subject reference); fi
	for s in "${order[@]}"; do keepalive "$s" "$r"; done
	for s in "${order[@]}"; do handshakes "$s" "$r"; done
done

# ---- results -------------------------------------------------------------

ref_ka=$(median "${ka_rps[reference]}")
sub_ka=$(median "${ka_rps[subject]}")
ref_ka_cpu=$(median "${ka_cpu[reference]}")
sub_ka_cpu=$(median "${ka_cpu[subject]}")
ref_ka_eff=$(median "${ka_eff[reference]}")
sub_ka_eff=$(median "${ka_eff[subject]}")
ref_hs=$(median "${hs_rate[reference]}")
sub_hs=$(median "${hs_rate[subject]}")
ref_hs_cpu=$(median "${hs_cpu[reference]}")
sub_hs_cpu=$(median "${hs_cpu[subject]}")
ref_hs_eff=$(median "${hs_eff[reference]}")
sub_hs_eff=$(median "${hs_eff[subject]}")

bench_metric keepalive_rps_nginx "$ref_ka" "requests/s"
bench_metric "keepalive_rps_$subject_kind" "$sub_ka" "requests/s"
bench_metric keepalive_server_cpu_nginx "$ref_ka_cpu" "% of one core"
bench_metric "keepalive_server_cpu_$subject_kind" "$sub_ka_cpu" "% of one core"
bench_metric handshakes_per_s_nginx "$ref_hs" "connections/s (wall clock)"
bench_metric "handshakes_per_s_$subject_kind" "$sub_hs" "connections/s (wall clock)"
bench_metric handshake_server_cpu_nginx "$ref_hs_cpu" "% of one core"
bench_metric "handshake_server_cpu_$subject_kind" "$sub_hs_cpu" "% of one core"
bench_metric disturbed "$disturbed" "1 = some measurement stayed disturbed by other load"

bench_ratio "keep-alive GET /healthz req/s" "$sub_ka" "$ref_ka" 0.8
bench_ratio "new TLS connections/s" "$sub_hs" "$ref_hs" 0.9
bench_ratio "keep-alive req/server CPU-second" "$sub_ka_eff" "$ref_ka_eff" ""
bench_ratio "handshakes/server CPU-second" "$sub_hs_eff" "$ref_hs_eff" ""

echo
printf '  %-36s %14s %14s %7s\n' "median of $rounds round(s)" nginx "$subject_kind" ratio
row() { printf '  %-36s %14s %14s %7s\n' "$1" "$2" "$3" \
	"$(awk -v s="$3" -v r="$2" 'BEGIN { if (r + 0 > 0 && s != "null") printf "%.3f", s / r; else print "-" }')"; }
row "keep-alive req/s" "$ref_ka" "$sub_ka"
row "  server CPU %" "$ref_ka_cpu" "$sub_ka_cpu"
row "  req per server CPU-second" "$ref_ka_eff" "$sub_ka_eff"
row "new TLS 1.3 connections/s" "$ref_hs" "$sub_hs"
row "  server CPU %" "$ref_hs_cpu" "$sub_hs_cpu"
row "  handshakes per server CPU-second" "$ref_hs_eff" "$sub_hs_eff"
# Per-round ratios (each round measures both servers back to back) show how
# much of a difference is noise.
round_ratios() {
	paste -d' ' <(tr ' ' '\n' <<<"$2" | grep .) <(tr ' ' '\n' <<<"$1" | grep .) |
		awk '{ if ($2 > 0) printf "%s%.3f", (NR > 1 ? " " : ""), $1 / $2 }'
}
ka_rounds=$(round_ratios "${ka_rps[reference]}" "${ka_rps[subject]}")
hs_rounds=$(round_ratios "${hs_rate[reference]}" "${hs_rate[subject]}")
hs_eff_rounds=$(round_ratios "${hs_eff[reference]}" "${hs_eff[subject]}")
log "ratio per round: keep-alive $ka_rounds; handshakes $hs_rounds;" \
	"handshakes per server CPU-second $hs_eff_rounds"
bench_info keepalive_ratio_per_round "$ka_rounds"
bench_info handshake_ratio_per_round "$hs_rounds"
bench_info handshake_per_cpu_ratio_per_round "$hs_eff_rounds"
if awk -v a="$ref_hs_cpu" -v b="$sub_hs_cpu" 'BEGIN { exit !(a < 90 || b < 90) }'; then
	log "note: during handshakes the servers used $ref_hs_cpu% / $sub_hs_cpu% of their core:" \
		"the client was the limit, so the wall-clock handshake ratio mostly compares the" \
		"client against itself; the per-CPU-second row compares the servers' own costs"
fi
((disturbed == 0)) || log "WARNING: some measurements stayed disturbed by other load (see above)"

# ---- optional profile ----------------------------------------------------

# Time by library (is it TLS, the kernel, or strongroom's own code?), then
# the top functions. Debian's libcrypto has no symbols without its dbgsym
# package, so OpenSSL internals show as addresses.
perf_top() {
	perf report -i "$1" --no-children --sort dso --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -n 8 || true
	echo
	perf report -i "$1" --no-children --sort dso,sym --percent-limit 0.7 --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -n 30 || true
}

if [ "${BENCH_PROFILE:-0}" = 1 ] && [ "$subject_kind" = strongroom ]; then
	echo
	log "profile: perf record -g on strongroom during ${secs}s of keep-alive load"
	perf record -g -o "$tmp/perf.data" -p "$sr_pid" -- sleep "$((secs + 1))" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
	"${pin_client[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" "$(url_of subject)" >/dev/null 2>&1 || true
	wait "$perf_pid" || true
	perf_top "$tmp/perf.data"
	perf record -g -o "$tmp/perf-hs.data" -p "$sr_pid" -- sleep "$((secs + 1))" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
	"${pin_client[@]}" openssl s_time -connect "127.0.0.1:$sub_port" -new -tls1_3 -CAfile "$ca" -time "$secs" >/dev/null 2>&1 || true
	wait "$perf_pid" || true
	log "profile: full handshakes"
	perf_top "$tmp/perf-hs.data"
fi
