#!/bin/sh
# bench/leftovers.sh [SCENARIO] [RUNS]: run a scenario RUNS times (default 20, --no-setup) and count what
# the runs left behind: private run directories (libvirt roots) in the state directory, processes that
# name a run's domain, and the old-style /tmp/nestlab-embed-* roots (issue 9: none may be left).
#
#   sh bench/leftovers.sh                              # scenarios/nested-igb.yaml, 20 runs
#   sh bench/leftovers.sh scenarios/nested-igb.yaml 5
#
# Needs root (libvirt's embedded driver) and a warm cache. Runs one at a time; other nestlab runs on the
# machine at the same time would show up in the counts.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
scenario=${1:-scenarios/nested-igb.yaml}
runs=${2:-20}
nestlab=${NESTLAB_BIN:-$here/build/nestlab}
if [ -n "${NESTLAB_STATE_DIR:-}" ]; then state=$NESTLAB_STATE_DIR
elif [ "$(id -u)" = 0 ]; then state=/run/nestlab
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then state=$XDG_RUNTIME_DIR/nestlab
else state=${NESTLAB_CACHE:-$HOME/.cache/nestlab}/state
fi

count_roots() { ls -d "$state"/run-* 2>/dev/null | wc -l; }
count_tmp() { ls -d /tmp/nestlab-embed-* 2>/dev/null | wc -l; }
count_qemu() { pgrep -fc 'guest=nestlab-' || true; }

echo "before: $(count_roots) run directories in $state, $(count_tmp) /tmp/nestlab-embed-*, $(count_qemu) L1 QEMU"
ok=0
i=1
while [ "$i" -le "$runs" ]; do
	rc=0
	(cd "$here" && "$nestlab" run --no-setup "$scenario") >/dev/null 2>&1 || rc=$?
	[ "$rc" = 0 ] && ok=$((ok + 1))
	echo "run $i: exit $rc; $(count_roots) run directories, $(count_qemu) L1 QEMU left"
	i=$((i + 1))
done
echo "after $runs runs ($ok exit 0): $(count_roots) run directories in $state, $(count_tmp) /tmp/nestlab-embed-*, $(count_qemu) L1 QEMU"
