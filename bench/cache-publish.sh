#!/bin/sh
# bench/cache-publish.sh [N...]: what making a cache entry durable costs (fs_publish(), fs.h). For each N
# (default 0 62 63 941) a staging tree of N + 2 small files (943: as many as the dpdk image's unpacked
# packages) is written and published by test_fs's demo under `strace -c`: up to 64 files each file and
# directory is fsynced, above that one syncfs(2) covers the tree. It runs in a temp directory on the file
# system of $NESTLAB_CACHE (default ~/.cache/nestlab), where the cache pays it.
#
#   sh bench/cache-publish.sh
#   sh bench/cache-publish.sh 943 5000
#
# Needs build/tests/test_fs (make) and strace. Prints: files, wall ms, fsync calls, syncfs calls.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
test_fs=$here/build/tests/test_fs
cache=${NESTLAB_CACHE:-$HOME/.cache/nestlab}
mkdir -p "$cache"
[ $# -gt 0 ] || set -- 0 62 63 941
printf '%8s %10s %8s %8s\n' files wall_ms fsync syncfs
for n in "$@"; do
	dir=$(mktemp -d "$cache/.bench-publish-XXXXXX")
	trace=$dir.strace
	start=$(date +%s%N)
	NESTLAB_TEST_FS_PUBLISH=$dir NESTLAB_TEST_FS_PUBLISH_FILES=$n \
		strace -f -c -o "$trace" -e trace=fsync,syncfs "$test_fs"
	end=$(date +%s%N)
	fsyncs=$(awk '$NF == "fsync" { print $4 }' "$trace")
	syncfs=$(awk '$NF == "syncfs" { print $4 }' "$trace")
	printf '%8s %10s %8s %8s\n' "$((n + 2))" $(( (end - start) / 1000000 )) "${fsyncs:-0}" "${syncfs:-0}"
	rm -rf "$dir" "$trace"
done
