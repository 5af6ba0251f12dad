#!/bin/sh
# bench/warm-run.sh [SCENARIO] [RUNS]: time warm runs of a scenario (everything cached) and print the
# per-stage times that `nestlab run` records in RUN/times.txt, plus the wall time of the whole command.
#
#   sh bench/warm-run.sh                        # scenarios/nested-igb.yaml, 1 run
#   sh bench/warm-run.sh scenarios/nested-e1000e.yaml 3
#
# The first call of a fresh machine builds everything (make scenario-nested-igb does the same); the
# runs measured here use --no-setup, so they time only the chain: L1 boot, L2 boot, traffic, checks,
# teardown. Target (issue 5): under 45 s with KVM in L1, 30 s as the goal.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
scenario=${1:-scenarios/nested-igb.yaml}
runs=${2:-1}
nestlab=${NESTLAB_BIN:-$here/build/nestlab}
cache=${NESTLAB_CACHE:-$HOME/.cache/nestlab}
name=$(sed -n 's/^name:[[:space:]]*//p' "$here/$scenario" | head -1)

[ -x "$nestlab" ] || { echo "bench: $nestlab not built; run make first" >&2; exit 2; }
if [ ! -e "$cache/images/current/l1.img" ]; then
	echo "bench: warming the cache first (builds and images)" >&2
	"$nestlab" build all >&2 && "$nestlab" images >&2
fi
printf '%-4s %8s %8s %8s %8s %8s %8s %8s  %s\n' run l1_boot l2_boot traffic checks teardown total wall result
i=1
while [ "$i" -le "$runs" ]; do
	t0=$(date +%s.%N)
	rc=0
	(cd "$here" && "$nestlab" run --no-setup "$scenario") >/dev/null 2>&1 || rc=$?
	t1=$(date +%s.%N)
	dir=$(readlink -f "$cache/runs/latest-$name")
	awk -v run="$i" -v wall="$(echo "$t1 - $t0" | bc)" -v rc="$rc" -v dir="$dir" '
		{ v[$1] = $2 / 1000 }
		END { printf "%-4s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f  %s (%s)\n", run, v["l1_boot_ms"],
		      v["l2_boot_ms"], v["traffic_ms"], v["checks_ms"], v["teardown_ms"], v["total_ms"], wall,
		      rc == 0 ? "all ok" : "exit " rc, dir }' "$dir/times.txt"
	i=$((i + 1))
done
