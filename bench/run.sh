#!/usr/bin/env bash
# `make bench`: measures strongroom against reference servers started in the
# same run, and reports ratios. A report, not a test: a ratio under its goal
# is printed as such and never fails the run; only a part that could not
# measure at all makes the exit status non-zero.
#
#   bench/run.sh PATH/TO/strongroom
#
# Each part is a script bench/<part>.sh. They run one after the other, in a
# fixed order (http, store, tokens, accounts, outbox, then any others by name), each as its own
# process with its own temporary folder and the build folder as its first
# argument, so a part that fails or is interrupted cleans up after itself
# and the next one still runs. A part reports through four shell functions this script exports (each appends one
# tab-separated line to a file in $BENCH_PART_OUT; a part in another language
# may append the same lines itself, or print lines
# "NAME=VALUE REFNAME=REFVALUE ..." which become ratios):
#
#   bench_metric NAME VALUE [UNIT]          -> metrics.tsv   NAME VALUE UNIT
#   bench_ratio  NAME SUBJECT REFERENCE GOAL -> ratios.tsv   NAME RATIO SUBJECT REFERENCE GOAL
#   bench_info   KEY VALUE                  -> info.tsv      KEY VALUE
#   bench_command TEXT                      -> commands.txt  one command line
#
# This script prints a summary of every part's ratios and writes everything
# to bench/results/<UTC timestamp>.json.
#
# Tunables (environment), defaults in brackets:
#   BENCH_PARTS          parts to run, space-separated [all that exist]
#   BENCH_SECONDS        length of one measurement [5]
#   BENCH_WARMUP_SECONDS warm-up before each keep-alive measurement [1]
#   BENCH_ROUNDS         rounds, alternating which server goes first [4]
#   BENCH_CONNECTIONS    wrk connections [32]
#   BENCH_THREADS        server threads = nginx workers = wrk threads [1]
#   BENCH_SERVER_CPUS    taskset list for the servers [0]
#   BENCH_CLIENT_CPUS    taskset list for the load generators [1]
#   BENCH_KEEP           1: keep the temporary folder (logs, configs) [0]
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: bench/run.sh PATH/TO/strongroom" >&2
	exit 2
fi
if [ ! -x "$1" ]; then
	echo "bench/run.sh: $1 is not an executable (run 'make build' first)" >&2
	exit 2
fi

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SR_BIN=$(realpath "$1")
export SR_BIN BENCH_DIR=$bench_dir

export BENCH_SECONDS=${BENCH_SECONDS:-5}
export BENCH_WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-1}
export BENCH_ROUNDS=${BENCH_ROUNDS:-4}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
export BENCH_THREADS=${BENCH_THREADS:-1}
# Two cores: the server under test gets one, the load generator the other.
# Sharing one core would measure the scheduler; giving the server both would
# starve the client. On a one-core machine nothing is pinned.
if [ "$(nproc)" -ge 2 ]; then
	export BENCH_SERVER_CPUS=${BENCH_SERVER_CPUS:-0}
	export BENCH_CLIENT_CPUS=${BENCH_CLIENT_CPUS:-1}
else
	export BENCH_SERVER_CPUS=${BENCH_SERVER_CPUS:-} BENCH_CLIENT_CPUS=${BENCH_CLIENT_CPUS:-}
fi

for v in BENCH_SECONDS BENCH_WARMUP_SECONDS BENCH_ROUNDS BENCH_CONNECTIONS BENCH_THREADS; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -lt 1 ]; then
		echo "bench/run.sh: $v must be a positive integer, not '${!v}'" >&2
		exit 2
	fi
done

# ---- reporting functions for the parts ---------------------------------

bench_metric() { printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$BENCH_PART_OUT/metrics.tsv"; }
bench_info() { printf '%s\t%s\n' "$1" "$2" >>"$BENCH_PART_OUT/info.tsv"; }
bench_command() { printf '%s\n' "$1" >>"$BENCH_PART_OUT/commands.txt"; }
# Ratio subject/reference to 3 decimals; "null" when either side is missing
# or the reference is zero, so a failed measurement never looks like a ratio.
bench_ratio() {
	local r
	r=$(awk -v s="$2" -v r="$3" 'BEGIN {
		if (s !~ /^[0-9.]+$/ || r !~ /^[0-9.]+$/ || r + 0 == 0) print "null";
		else printf "%.3f", s / r }')
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$r" "$2" "$3" "$4" >>"$BENCH_PART_OUT/ratios.tsv"
}
export -f bench_metric bench_info bench_command bench_ratio

# ---- JSON helpers (plain bash: no jq or python needed) -----------------

json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	s=${s//$'\r'/\\r}
	printf '"%s"' "$s"
}
# Numbers stay numbers, "null" stays null, anything else becomes a string.
json_val() {
	if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || [ "$1" = null ]; then
		printf '%s' "$1"
	else
		json_str "$1"
	fi
}

# ---- run ---------------------------------------------------------------

run_root=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-bench.XXXXXX")
cleanup() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "kept $run_root (BENCH_KEEP=1)"
	else
		rm -rf "$run_root"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

first_line() { "$@" 2>&1 | head -n 1 || true; }
ver_strongroom=$(first_line "$SR_BIN" version)
ver_nginx=$(first_line nginx -v)
ver_wrk=$(first_line wrk -v)
ver_openssl=$(first_line openssl version)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
t0=$(date +%s)

echo "strongroom bench  $started"
echo "  binary     $SR_BIN ($ver_strongroom)"
echo "  nginx      $(command -v nginx) ($ver_nginx)"
echo "  wrk        $(command -v wrk) ($ver_wrk)"
echo "  openssl    $ver_openssl"
echo "  machine    $(nproc) cores, $cpu_model, kernel $(uname -r), load $load_start"
echo "  settings   ${BENCH_SECONDS}s per measurement, ${BENCH_ROUNDS} rounds," \
	"${BENCH_THREADS} server thread(s) on CPU [${BENCH_SERVER_CPUS:-any}]," \
	"client on CPU [${BENCH_CLIENT_CPUS:-any}], ${BENCH_CONNECTIONS} connections"
if awk -v l="${load_start%% *}" 'BEGIN { exit !(l > 0.5) }'; then
	echo "  WARNING    load average $load_start before start: other work shares these cores," \
		"expect noisy absolute numbers (ratios from alternating rounds hold up better)"
fi

# Fixed order: the parts the issue names first, then any others by name.
parts=()
if [ -n "${BENCH_PARTS:-}" ]; then
	read -r -a parts <<<"$BENCH_PARTS"
else
	for p in http store tokens accounts outbox; do
		[ -f "$bench_dir/$p.sh" ] && parts+=("$p")
	done
	for f in "$bench_dir"/*.sh; do
		p=$(basename "$f" .sh)
		case " run http store tokens accounts outbox ${parts[*]} " in *" $p "*) continue ;; esac
		parts+=("$p")
	done
fi

failed=0
declare -A status
for p in "${parts[@]}"; do
	if [ ! -f "$bench_dir/$p.sh" ]; then
		echo "bench/run.sh: no part bench/$p.sh" >&2
		status[$p]=missing
		failed=1
		continue
	fi
	export BENCH_PART=$p
	export BENCH_TMP=$run_root/$p
	export BENCH_PART_OUT=$run_root/out/$p
	mkdir -p "$BENCH_TMP" "$BENCH_PART_OUT"
	: >"$BENCH_PART_OUT/metrics.tsv"
	: >"$BENCH_PART_OUT/ratios.tsv"
	: >"$BENCH_PART_OUT/info.tsv"
	: >"$BENCH_PART_OUT/commands.txt"
	echo
	echo "== $p"
	# Parts get the build folder as their first argument (store.sh wants it
	# for its helper executable); http.sh ignores it.
	set +e
	bash "$bench_dir/$p.sh" "$(dirname "$SR_BIN")" | tee "$BENCH_PART_OUT/stdout.txt"
	rc=${PIPESTATUS[0]}
	set -e
	# A part that does not use bench_ratio may print result lines instead:
	#   NAME=VALUE REFNAME=REFVALUE [ratio=R]   (as store.sh does)
	# Those become ratios of VALUE over REFVALUE, without a goal.
	if [ ! -s "$BENCH_PART_OUT/ratios.tsv" ]; then
		while read -r subj ref _; do
			bench_ratio "${subj%%=*} (vs ${ref%%=*})" "${subj#*=}" "${ref#*=}" ""
			bench_metric "${subj%%=*}" "${subj#*=}"
			bench_metric "${subj%%=*}.${ref%%=*}" "${ref#*=}"
		done < <(grep -E '^[A-Za-z0-9_.]+=[0-9.]+ [A-Za-z0-9_.]+=[0-9.]+( |$)' "$BENCH_PART_OUT/stdout.txt" || true)
	fi
	# A part interrupted by Ctrl-C exits 130 after its own clean-up: stop
	# the whole run there rather than start the next part.
	[ "$rc" -eq 130 ] && exit 130
	if [ "$rc" -eq 0 ]; then
		status[$p]=ok
	else
		status[$p]="failed (exit $rc)"
		failed=1
		echo "bench/run.sh: part $p failed with exit status $rc" >&2
	fi
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t0))

# ---- summary -------------------------------------------------------------

echo
echo "== summary (ratio = strongroom / reference; goals are targets, not pass/fail)"
printf '%-7s %-48s %12s %12s %7s %7s  %s\n' part measurement strongroom reference ratio goal ""
for p in "${parts[@]}"; do
	f=$run_root/out/$p/ratios.tsv
	if [ ! -s "$f" ]; then
		printf '%-7s %s\n' "$p" "${status[$p]}: no ratios"
		continue
	fi
	while IFS=$'\t' read -r name ratio subj ref goal; do
		verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN {
			if (r == "null") print "not measured";
			else if (g == "") print "";
			else if (r + 0 >= g + 0) print "goal reached";
			else print "below goal" }')
		printf '%-7s %-48s %12s %12s %7s %7s  %s\n' "$p" "$name" "$subj" "$ref" "$ratio" \
			"${goal:+>=$goal}" "$verdict"
	done <"$f"
done

# ---- results file --------------------------------------------------------

mkdir -p "$bench_dir/results"
out=$bench_dir/results/$stamp.json
{
	printf '{\n'
	printf '  "started": %s,\n  "elapsed_s": %s,\n' "$(json_str "$started")" "$elapsed"
	printf '  "machine": {"cores": %s, "cpu": %s, "kernel": %s, "load_start": %s, "load_end": %s},\n' \
		"$(nproc)" "$(json_str "$cpu_model")" "$(json_str "$(uname -r)")" \
		"$(json_str "$load_start")" "$(json_str "$load_end")"
	printf '  "versions": {"strongroom": %s, "nginx": %s, "wrk": %s, "openssl": %s},\n' \
		"$(json_str "$ver_strongroom")" "$(json_str "$ver_nginx")" \
		"$(json_str "$ver_wrk")" "$(json_str "$ver_openssl")"
	printf '  "settings": {"seconds": %s, "warmup_seconds": %s, "rounds": %s, "connections": %s,' \
		"$BENCH_SECONDS" "$BENCH_WARMUP_SECONDS" "$BENCH_ROUNDS" "$BENCH_CONNECTIONS"
	printf ' "threads": %s, "server_cpus": %s, "client_cpus": %s},\n' \
		"$BENCH_THREADS" "$(json_str "$BENCH_SERVER_CPUS")" "$(json_str "$BENCH_CLIENT_CPUS")"
	printf '  "parts": {'
	sep=''
	for p in "${parts[@]}"; do
		d=$run_root/out/$p
		printf '%s\n    %s: {\n      "status": %s,\n' "$sep" "$(json_str "$p")" \
			"$(json_str "${status[$p]}")"
		sep=','
		printf '      "ratios": {'
		s2=''
		if [ -f "$d/ratios.tsv" ]; then
			while IFS=$'\t' read -r name ratio subj ref goal; do
				printf '%s\n        %s: {"ratio": %s, "strongroom": %s, "reference": %s, "goal": %s}' \
					"$s2" "$(json_str "$name")" "$(json_val "$ratio")" "$(json_val "$subj")" \
					"$(json_val "$ref")" "$(json_val "${goal:-null}")"
				s2=','
			done <"$d/ratios.tsv"
		fi
		printf '},\n      "metrics": {'
		s2=''
		if [ -f "$d/metrics.tsv" ]; then
			while IFS=$'\t' read -r name value unit; do
				printf '%s\n        %s: {"value": %s, "unit": %s}' "$s2" "$(json_str "$name")" \
					"$(json_val "$value")" "$(json_str "$unit")"
				s2=','
			done <"$d/metrics.tsv"
		fi
		printf '},\n      "info": {'
		s2=''
		if [ -f "$d/info.tsv" ]; then
			while IFS=$'\t' read -r key value; do
				printf '%s\n        %s: %s' "$s2" "$(json_str "$key")" "$(json_str "$value")"
				s2=','
			done <"$d/info.tsv"
		fi
		printf '},\n      "commands": ['
		s2=''
		if [ -f "$d/commands.txt" ]; then
			while IFS= read -r line; do
				printf '%s\n        %s' "$s2" "$(json_str "$line")"
				s2=','
			done <"$d/commands.txt"
		fi
		printf ']\n    }'
	done
	printf '\n  }\n}\n'
} >"$out"

echo
echo "results: $out (${elapsed}s; load average $load_start at start, $load_end at end)"
exit "$failed"
