#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fresh-machine.sh - the README's first command on a fresh Debian 12 machine, for real (TAP 13)
#
# A Debian 12 (bookworm) root is made with mmdebstrap --variant=minbase from the archive this host's apt
# uses, with nothing but what a new user has before the README: make, to type the commands, and git, to
# clone. Inside it, as root, in a private mount namespace (so nothing mounted outlives the test):
#   1. the root: built once and cached by content under $NESTLAB_CACHE/fresh/ROOTKEY.tar (the key hashes
#      the suite, variant, package list, apt sources and this script's format), so a rerun only unpacks it
#   2. `git clone` of this repository into /root/nestlab, checked out at NESTLAB_FRESH_REV (default HEAD)
#   3. `make scenario-nested-igb RUN_FLAGS=--no-setup`: the README's first command. It must install the
#      packages (make deps), build build/nestlab and reach `nestlab run`, which stops honestly at set-up
#      (exit 4, "not in the cache": building QEMU, Linux and the images is the slow part that
#      `make check` covers, so --no-setup stops before it)
#   4. `build/nestlab plan scenarios/nested-igb.yaml` works there
#   5. a second fresh root where `make` (the plain build) is the first command: build/nestlab again
# Downloaded packages are kept in $NESTLAB_CACHE/fresh/debs (the root's /var/cache/apt/archives), so a
# rerun does not download them again; installing them is most of the time.
#
# Needs root, mmdebstrap and unshare (util-linux); without them every point skips with the reason.
# NESTLAB_FRESH_REV=COMMIT tests another commit (e.g. one before a fix) with this script.
set -u

FORMAT=1
SUITE=bookworm
BOOTSTRAP=make,git
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

# cache() - the cache root, resolved as fs_cache_dir() does it (NESTLAB_CACHE, HOME, the password database)
cache() {
	if [ -n "${NESTLAB_CACHE:-}" ]; then
		case $NESTLAB_CACHE in /*) echo "$NESTLAB_CACHE" ;; *) echo "$(pwd)/$NESTLAB_CACHE" ;; esac
	elif [ -n "${HOME:-}" ]; then
		echo "$HOME/.cache/nestlab"
	else
		echo "$(getent passwd "$(id -u)" | cut -d: -f6)/.cache/nestlab"
	fi
}

# ---- inside the private mount namespace: one fresh root, one command -------------------------------
# usage: fresh-machine.sh --inside ROOT DEBS ORIGIN REV LOG COMMAND...
if [ "${1:-}" = --inside ]; then
	root=$2 debs=$3 origin=$4 rev=$5 log=$6
	shift 6
	set -e
	mount --make-rprivate /
	mount -t proc proc "$root/proc"
	mount -t tmpfs -o mode=755,size=16m dev "$root/dev"
	for d in null zero full random urandom tty; do
		touch "$root/dev/$d"
		mount --bind "/dev/$d" "$root/dev/$d"
	done
	mkdir -p "$root/dev/pts" "$root/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
	ln -sf pts/ptmx "$root/dev/ptmx"
	mount -t tmpfs tmpfs "$root/dev/shm"
	mount -t tmpfs tmpfs "$root/tmp"
	mkdir -p "$root/mnt/origin" "$root/var/cache/apt/archives"
	mount --bind -o ro "$origin" "$root/mnt/origin"
	mount --bind "$debs" "$root/var/cache/apt/archives"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	set +e
	chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 TERM=dumb NESTLAB_FRESH_REV="$rev" /bin/sh -c "$*" >>"$log" 2>&1
	exit $?
fi

# ---- the test -------------------------------------------------------------------------------------
n=0
point() {	# point ok|not-ok DESCRIPTION
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
diag_tail() {	# the end of a log as diagnostics
	tail -n "${2:-25}" "$1" 2>/dev/null | sed 's/^/# | /'
}

echo "TAP version 13"
echo "1..5"
skip_all() {
	for i in 1 2 3 4 5; do echo "ok $i - fresh machine # SKIP $1"; done
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root (chroot, mounts, apt inside the root)"
command -v mmdebstrap >/dev/null || skip_all "mmdebstrap is not installed (make deps)"
command -v unshare >/dev/null || skip_all "unshare (util-linux) is not installed"

rev=$(git -C "$top" rev-parse --verify "${NESTLAB_FRESH_REV:-HEAD}^{commit}") || {
	echo "Bail out! ${NESTLAB_FRESH_REV:-HEAD} is not a commit of $top"
	exit 1
}
origin=$(cd "$(git -C "$top" rev-parse --git-common-dir)" && pwd)	# the repository, not a worktree's link
dir=$(cache)/fresh
mkdir -p "$dir/debs/partial" || { echo "Bail out! cannot create $dir"; exit 1; }
echo "# commit $rev of $origin; cache $dir"

# the archive as this host's apt is configured: its binary package sources and its Check-Valid-Until
sources=$(apt-get indextargets --format 'deb $(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' | sort -u)
aptopts=
[ "$(apt-config shell v Acquire::Check-Valid-Until)" = "v='false'" ] && aptopts='Acquire::Check-Valid-Until "false"'
key=$(printf '%s\n' "$FORMAT" "$SUITE" minbase "$BOOTSTRAP" "$sources" "$aptopts" | sha256sum | cut -c1-16)
tarball=$dir/root-$key.tar

# 1. the root
t0=$(date +%s)
if [ -s "$tarball" ]; then
	point ok "Debian 12 minbase root with $BOOTSTRAP (cached: root-$key.tar)"
else
	printf '%s\n' "$sources" >"$dir/sources-$key.list"
	set -- --variant=minbase --include="$BOOTSTRAP" --format=tar
	[ -z "$aptopts" ] || set -- "$@" --aptopt="$aptopts"
	if mmdebstrap "$@" "$SUITE" "$tarball.tmp" "$dir/sources-$key.list" >"$dir/mmdebstrap-$key.log" 2>&1 &&
		mv "$tarball.tmp" "$tarball"; then
		point ok "Debian 12 minbase root with $BOOTSTRAP (built in $(($(date +%s) - t0)) s)"
	else
		rm -f "$tarball.tmp"
		point not-ok "Debian 12 minbase root with $BOOTSTRAP: mmdebstrap failed ($dir/mmdebstrap-$key.log)"
		diag_tail "$dir/mmdebstrap-$key.log"
		echo "Bail out! no root to test in"
		exit 1
	fi
fi

work=$(mktemp -d "$dir/run.XXXXXX")
cleanup() {
	# the mounts lived in the namespace of each `unshare`, gone with it; --one-file-system is a second guard
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# new_root() - unpack a fresh root into $work/$1, with apt-get kept from starting services inside it
new_root() {
	mkdir -p "$work/$1" && tar -xf "$tarball" -C "$work/$1" &&
		printf '#!/bin/sh\n# a test root: no service starts in it\nexit 101\n' >"$work/$1/usr/sbin/policy-rc.d" &&
		chmod 755 "$work/$1/usr/sbin/policy-rc.d"
}
# inside() - run a shell command as root inside the root $1, its output appended to $2
inside() {
	r=$1 log=$2
	shift 2
	unshare --mount --fork sh "$here/fresh-machine.sh" --inside "$work/$r" "$dir/debs" "$origin" "$rev" "$log" "$*"
}
clone='git clone -q /mnt/origin /root/nestlab && cd /root/nestlab && git -c advice.detachedHead=false checkout -q $NESTLAB_FRESH_REV && git log --oneline -1'

# 2. a fresh clone inside the root
log1=$work/first.log
if new_root a && inside a "$log1" "$clone"; then
	point ok "git clone inside the root: $(tail -n 1 "$log1")"
else
	point not-ok "git clone inside the root"
	diag_tail "$log1"
	echo "Bail out! no clone to test"
	exit 1
fi

# 3. the README's first command, from nothing
t0=$(date +%s)
inside a "$log1" 'cd /root/nestlab && make scenario-nested-igb RUN_FLAGS=--no-setup; echo "make exit status $?"'
took=$(($(date +%s) - t0))
installed=$(sed -n 's/^installing: //p' "$log1" | wc -w)
if [ -x "$work/a/root/nestlab/build/nestlab" ] && grep -q '^Bail out! .*is not in the cache' "$log1"; then
	point ok "make scenario-nested-igb RUN_FLAGS=--no-setup: installed $installed packages, built build/nestlab, nestlab run stopped at set-up as asked ($took s)"
else
	point not-ok "make scenario-nested-igb RUN_FLAGS=--no-setup: build/nestlab built and nestlab run reached ($took s)"
	grep -m 3 'undefined reference\|error:' "$log1" | sed 's/^/# /'
	diag_tail "$log1"
fi

# 4. the built CLI plans the main scenario there
log2=$work/plan.log
if inside a "$log2" 'cd /root/nestlab && build/nestlab plan scenarios/nested-igb.yaml' &&
	grep -q "<domain type=" "$log2"; then
	point ok "build/nestlab plan scenarios/nested-igb.yaml in the root ($(wc -l <"$log2") lines)"
else
	point not-ok "build/nestlab plan scenarios/nested-igb.yaml in the root"
	diag_tail "$log2"
fi
rm -rf --one-file-system "$work/a"

# 5. the other order: plain `make` as the first command on another fresh root
log3=$work/second.log
t0=$(date +%s)
if new_root b && inside b "$log3" "$clone && make" && [ -x "$work/b/root/nestlab/build/nestlab" ] &&
	inside b "$log3" 'cd /root/nestlab && build/nestlab validate scenarios/nested-igb.yaml'; then
	point ok "make as the first command on a fresh root: build/nestlab built and validates ($(($(date +%s) - t0)) s)"
else
	point not-ok "make as the first command on a fresh root ($(($(date +%s) - t0)) s)"
	grep -m 3 'undefined reference\|error:' "$log3" | sed 's/^/# /'
	diag_tail "$log3"
fi
exit 0
