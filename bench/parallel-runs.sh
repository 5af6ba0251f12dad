#!/bin/sh
# bench/parallel-runs.sh [ALONE_SCENARIO]: the slowdown of runs that share the host. Times one warm run
# of nested-igb alone, then nested-igb twice and nested-e1000e started together (what make check-slow
# checks), and prints each run's wall time, its stage times from RUN/times.txt, and the ratio of the
# three-at-once wall time to the run alone. Every run must pass; a failed one is printed as such.
#
#   sh bench/parallel-runs.sh
#
# Uses --no-setup: fill the cache first (make scenario-nested-igb, or nestlab build all && nestlab images).
# The figure depends on what else the host runs: note the load average it prints.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
nestlab=${NESTLAB_BIN:-$here/build/nestlab}
alone=${1:-nested-igb}
out=$(mktemp -d /tmp/nestlab-bench-parallel-XXXXXX)
trap 'rm -rf "$out"' EXIT

[ -x "$nestlab" ] || { echo "bench: $nestlab not built; run make first" >&2; exit 2; }

# one_run NAME TAG: nestlab run --no-setup in the background; TAP in $out/TAG.tap, start time in $out/TAG.t0
one_run() {
	date +%s.%N > "$out/$2.t0"
	(cd "$here" && "$nestlab" run --no-setup "scenarios/$1.yaml" > "$out/$2.tap" 2> "$out/$2.err"; \
	 echo $? > "$out/$2.rc"; date +%s.%N > "$out/$2.t1") &
}

# report TAG NAME: one line: wall, stage times, result, run directory
report() {
	dir=$(sed -n 's/^# scenario .*, run directory //p' "$out/$1.tap" | head -1)
	wall=$(echo "$(cat "$out/$1.t1") - $(cat "$out/$1.t0")" | bc)
	rc=$(cat "$out/$1.rc")
	notok=$(grep -c '^not ok' "$out/$1.tap" || true)
	awk -v tag="$1" -v name="$2" -v wall="$wall" -v rc="$rc" -v notok="$notok" -v dir="$dir" '
		{ v[$1] = $2 / 1000 }
		END { printf "%-7s %-14s %8.1f %8.1f %8.1f %8.1f %8.1f  %s (%s)\n", tag, name, wall, v["l1_boot_ms"],
		      v["l2_boot_ms"], v["traffic_ms"], v["checks_ms"],
		      rc == 0 && notok == 0 ? "all ok" : "FAILED exit " rc ", " notok " not ok", dir }' \
		"${dir:-/nonexistent}/times.txt" 2>/dev/null || echo "$1 $2 FAILED exit $rc (no times.txt)"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
printf '%-7s %-14s %8s %8s %8s %8s %8s  %s\n' run scenario wall l1_boot l2_boot traffic checks result
one_run "$alone" alone
wait
report alone "$alone"
t0=$(date +%s.%N)
one_run nested-igb par-1
one_run nested-igb par-2
one_run nested-e1000e par-3
wait
t1=$(date +%s.%N)
report par-1 nested-igb
report par-2 nested-igb
report par-3 nested-e1000e
alone_wall=$(echo "$(cat "$out/alone.t1") - $(cat "$out/alone.t0")" | bc)
three_wall=$(echo "$t1 - $t0" | bc)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'alone %.1f s, three at once %.1f s (wall until the last ends): ratio %.2f\n' "$alone_wall" "$three_wall" \
	"$(echo "$three_wall / $alone_wall" | bc -l)"
