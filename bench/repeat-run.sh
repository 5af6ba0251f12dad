#!/bin/sh
# bench/repeat-run.sh SCENARIO N: N consecutive warm runs of one scenario (`nestlab run --no-setup`), with
# no retry, one line per run and the pass/fail counts at the end. A flake shows up here as a failed run.
#
#   sh bench/repeat-run.sh nested-igb 50
#   sh bench/repeat-run.sh scenarios/nested-e1000e.yaml 10
#
# Each line: run number, ok or FAIL, wall time, the 1-minute load average when the run started (other
# work on the machine changes the timing), the run directory, and for a failure the Bail out! or first
# `not ok` line of its TAP. Run directories stay in $NESTLAB_CACHE/runs (an L2 that reset leaves
# l1-kvm-trace.txt, l1-dmesg.txt and l2-console.log there). Exit status 0 when every run passed.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 2 ] || { echo "usage: $0 SCENARIO N (SCENARIO: a name in scenarios/ or a path)" >&2; exit 2; }
scenario=$1
[ -f "$here/scenarios/$scenario.yaml" ] && scenario=scenarios/$scenario.yaml
runs=$2
case $runs in '' | *[!0-9]*) echo "bench: N must be a number, not '$runs'" >&2; exit 2 ;; esac
nestlab=${NESTLAB_BIN:-$here/build/nestlab}
cache=${NESTLAB_CACHE:-$HOME/.cache/nestlab}

[ -x "$nestlab" ] || { echo "bench: $nestlab not built; run make first" >&2; exit 2; }
[ -f "$here/$scenario" ] || [ -f "$scenario" ] || { echo "bench: no scenario $scenario" >&2; exit 2; }
[ -e "$cache/images/current" ] || { echo "bench: the cache has no images; run 'make scenario-nested-igb' once" >&2; exit 2; }

tap=$(mktemp) times=$(mktemp)
trap 'rm -f "$tap" "$times"' EXIT
passed=0 failed=0 resets=0
i=1
while [ "$i" -le "$runs" ]; do
	load=$(cut -d' ' -f1 /proc/loadavg)
	t0=$(date +%s.%N)
	rc=0
	(cd "$here" && "$nestlab" run --no-setup "$scenario") >"$tap" 2>/dev/null || rc=$?
	t1=$(date +%s.%N)
	wall=$(echo "$t1 - $t0" | bc)
	echo "$wall" >>"$times"
	dir=$(sed -n 's/^# scenario .*, run directory //p' "$tap" | head -1)
	why=$(grep -m1 '^Bail out!' "$tap" || grep -m1 '^not ok' "$tap" || true)
	if [ "$rc" -eq 0 ] && [ -z "$why" ]; then
		passed=$((passed + 1))
		printf '%3d ok   %6.1f s  load %-5s %s\n' "$i" "$wall" "$load" "$dir"
	else
		failed=$((failed + 1))
		case $why in *"L2 reset or crashed"* | *"exited before L2 was ready"*) resets=$((resets + 1)) ;; esac
		printf '%3d FAIL %6.1f s  load %-5s %s (exit %s)\n      %s\n' "$i" "$wall" "$load" "$dir" "$rc" \
			"$(echo "${why:-no TAP verdict}" | cut -c1-600)"
	fi
	i=$((i + 1))
done
sort -n "$times" | awk -v p="$passed" -v f="$failed" -v r="$resets" '
	{ t[NR] = $1; sum += $1 }
	END { printf "RESULT %d runs: %d passed, %d failed (%d with L2 gone); wall min %.1f s, median %.1f s, " \
	      "mean %.1f s, max %.1f s\n", NR, p, f, r, t[1], t[int((NR + 1) / 2)], sum / NR, t[NR] }'
[ "$failed" -eq 0 ]
