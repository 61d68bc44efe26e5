#!/bin/sh
# ckc guest init (busybox sh). Runs as PID 1 from the initramfs that vm/initramfs.py builds:
# mounts the pseudo file systems, loads the modules listed in /ckc/modules.list (dependencies
# first, uncompressed), mounts the cgroup mode named by ckc.mode= on the kernel command line,
# sets up zram swap (with zswap in front unless ckc.zswap=off) and loop devices, runs the host
# guard's snapshot, every suite in /ckc/suites.list and the guard's comparison within the time
# budget ckc.timeout= (shared: each binary gets what the earlier ones left) and
# sends each results file to the host over the second serial port (/dev/ttyS1), framed as
#   CKC-FILE <name> <exit status, -1 while still running> <timed out 0|1>
#   <base64 of the gzipped file>
#   CKC-END <name>
# then CKC-DONE, and powers off. Console (ttyS0) gets the progress lines the host watches.

export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib:/usr/lib
export HOME=/root
export GTEST_COLOR=no
# This machine lives for one run: rows that would have to change a host's kernel state to see
# their behaviour (loading an AppArmor profile) may do so here.
export CKC_DISPOSABLE_MACHINE=1

say() { echo "ckc-init: $*"; }

mount_pseudo() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs -o mode=755 dev /dev
	mkdir -p /dev/pts /dev/shm /dev/mqueue /tmp /run /root
	mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
	mount -t tmpfs -o mode=1777 shm /dev/shm
	mount -t mqueue mqueue /dev/mqueue 2>/dev/null
	mount -t tmpfs -o mode=1777 tmp /tmp
	mount -t tmpfs -o mode=755 run /run
	# apparmor_parser loads profiles through securityfs, and lsm rows read .../security/lsm.
	if ! grep -q " /sys/kernel/security " /proc/mounts; then
		mount -t securityfs securityfs /sys/kernel/security 2>/dev/null ||
			say "securityfs not mountable"
	fi
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	ln -sf /proc/self/fd /dev/fd
	ip link set lo up
	hostname ckc-guest
}

read_cmdline() {
	MODE=v2 ACCEL=tcg SUITE_TIMEOUT=600 ZSWAP=on CHAOS=0
	for word in $(cat /proc/cmdline); do
		case "$word" in
		ckc.mode=*) MODE=${word#ckc.mode=} ;;
		ckc.accel=*) ACCEL=${word#ckc.accel=} ;;
		ckc.timeout=*) SUITE_TIMEOUT=${word#ckc.timeout=} ;;
		ckc.zswap=*) ZSWAP=${word#ckc.zswap=} ;;
		ckc.chaos=*) CHAOS=${word#ckc.chaos=} ;;
		esac
	done
}

load_modules() {
	[ -f /ckc/modules.list ] || return 0
	while read -r file params; do
		[ -n "$file" ] || continue
		# shellcheck disable=SC2086 # params are separate words on purpose
		insmod "/ckc/modules/$file" $params 2>/dev/null || say "insmod $file failed"
	done < /ckc/modules.list
}

v1_controllers() {
	# /proc/cgroups: name hierarchy num_cgroups enabled
	while read -r name _ _ enabled; do
		case "$name" in '#'*) continue ;; esac
		[ "$enabled" = 1 ] && echo "$name"
	done < /proc/cgroups
}

mount_v1() {
	mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
	for c in $(v1_controllers); do
		mkdir -p "/sys/fs/cgroup/$c"
		if ! mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null; then
			say "cgroup v1 controller $c not mountable"
			rmdir "/sys/fs/cgroup/$c"
		fi
	done
}

mount_v2() {
	where=$1
	mkdir -p "$where"
	mount -t cgroup2 -o nsdelegate cgroup2 "$where" || { say "cgroup2 mount failed"; return; }
	for c in $(cat "$where/cgroup.controllers"); do
		echo "+$c" > "$where/cgroup.subtree_control" 2>/dev/null || say "cannot enable $c"
	done
}

setup_cgroups() {
	case "$MODE" in
	v1) mount_v1 ;;
	v2) mount_v2 /sys/fs/cgroup ;;
	hybrid) mount_v1; mount_v2 /sys/fs/cgroup/unified ;;
	*) say "unknown cgroup mode $MODE" ;;
	esac
	say "cgroup mode $MODE: $(ls /sys/fs/cgroup | tr '\n' ' ')"
}

setup_swap_and_loop() {
	if [ -e /sys/block/zram0/disksize ]; then
		echo 256M > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null &&
			swapon /dev/zram0 || say "zram swap failed"
	else
		say "no zram device"
	fi
	setup_zswap
	for i in 0 1 2 3 4 5 6 7; do
		[ -e "/dev/loop$i" ] || mknod "/dev/loop$i" b 7 "$i" 2>/dev/null
	done
	# hugetlb.limit needs reserved huge pages; the host's are never touched, a VM's are ours.
	if [ -w /proc/sys/vm/nr_hugepages ]; then
		echo 8 > /proc/sys/vm/nr_hugepages || say "reserving huge pages failed"
	fi
}

setup_zswap() {
	# zswap (memory.zswap.* rows) compresses pages on their way to the zram swap; switched on
	# in this guest only, unless ckc.zswap=off. Kernels without CONFIG_ZSWAP have no knob.
	knob=/sys/module/zswap/parameters/enabled
	[ -e "$knob" ] || { say "zswap: not in this kernel"; return 0; }
	if [ "$ZSWAP" != off ]; then
		echo Y > "$knob" 2>/dev/null || say "zswap: enabling failed"
	fi
	state="enabled=$(cat "$knob")"
	for param in compressor zpool max_pool_percent; do
		file=/sys/module/zswap/parameters/$param
		[ -r "$file" ] && state="$state $param=$(cat "$file")"
	done
	say "zswap: $state"
}

ship() { # name status timed_out file
	if [ -f "$4" ]; then
		{ echo "CKC-FILE $1 $2 $3"; gzip -c "$4" | base64; echo "CKC-END $1"; } > /dev/ttyS1
	else
		echo "CKC-NOFILE $1 $2 $3" > /dev/ttyS1
	fi
}

stream_while_running() { # pid name file
	# Send the results file each time the binary rewrites it (status -1: still running), so
	# a kernel that dies mid-suite still leaves every finished test on the host.
	last=""
	while kill -0 "$1" 2>/dev/null; do
		sleep 0.5
		[ -f "$3" ] || continue
		sum=$(md5sum < "$3")
		[ "$sum" = "$last" ] && continue
		last=$sum
		ship "$2" -1 0 "$3"
	done
}

run_list() { # list kind; a list line is: name binary [arguments...]
	[ -f "$1" ] || return 0
	set -f # arguments are split into words, never globbed
	while read -r name bin args; do
		[ -n "$name" ] || continue
		out="/tmp/ckc-results/$name.json"
		if [ "$2" = bench ]; then
			# The bench driver writes its JSON after every round (streamed like a suite's).
			arg1="--json=$out"
		else
			arg1="--ckc-results=$out"
		fi
		# Every binary may use what the ones before it left of the budget.
		start=$(date +%s)
		left=$((DEADLINE - start))
		if [ "$left" -lt 5 ]; then
			say "no time left for $name"
			ship "$name" 124 1 /nonexistent
			continue
		fi
		say "running $name"
		# shellcheck disable=SC2086 # args are separate words on purpose
		(cd /tmp && CKC_MACHINE_ACCEL=$ACCEL timeout "$left" "$bin" "$arg1" $args) \
			< /dev/null &
		stream_while_running $! "$name" "$out"
		wait $!
		status=$?
		timed_out=0
		[ $(($(date +%s) - start)) -ge "$left" ] && timed_out=1
		say "finished $name status $status timed_out $timed_out"
		ship "$name" "$status" "$timed_out" "$out"
	done < "$1"
	set +f
}

leave_rootfs() {
	# The initramfs root is rootfs, which pivot_root(2) cannot move: containers (and the
	# suites' own-root rows) need / to be an ordinary mount. Copy into a tmpfs and switch.
	[ -e /.ckc-switched ] && return 0
	mkdir -p /newroot
	mount -t tmpfs -o mode=755 root /newroot || return 0
	for entry in $(ls -A /); do
		case "$entry" in newroot | proc | sys) ;; *) cp -a "/$entry" /newroot/ ;; esac
	done
	mkdir -p /newroot/proc /newroot/sys
	touch /newroot/.ckc-switched
	exec switch_root /newroot /init
}

# --- ckc.chaos=N: the guard proven inside the guest (vm/tests/boot_chaos.py) ---------------
# Before the suites: a picture of the guest made with busybox alone (independent of ckc-guard),
# one clean run of the cgroups suite on rows that freeze groups and attach loop devices, then N
# runs of it SIGKILLed as a process group (the first aimed at a frozen group, then at an
# attached loop device, the rest at random moments). The suites then run as always (the clean
# run after the kills, whose start-up sweeps clean up), and after the guard's comparison a second
# picture: "ckc-chaos: picture unchanged" or the lines that differ.
CHAOS_FILTER="Freezer.SigkillFrozen:Freezer.FreezeThaw:Io.Weight:Io.Accounting"
CHAOS_SYSCTLS="kernel/pid_max kernel/threads-max vm/overcommit_memory vm/swappiness
vm/nr_hugepages vm/max_map_count net/ipv4/ip_forward net/ipv4/ip_unprivileged_port_start
net/ipv4/ping_group_range user/max_user_namespaces user/max_net_namespaces
user/max_mnt_namespaces user/max_pid_namespaces"

picture() {
	awk '{ print $1, $2, $3 }' /proc/swaps # not Used: the guest's own swap is in use
	for b in /sys/block/*; do
		echo "block ${b##*/} $(cat "$b/loop/backing_file" 2>/dev/null) $(cat "$b/queue/scheduler" 2>/dev/null)"
	done
	find /sys/fs/cgroup -type d -name 'ckc-*' 2>/dev/null | sort
	for f in /sys/fs/cgroup/cgroup.subtree_control /sys/fs/cgroup/unified/cgroup.subtree_control; do
		[ -r "$f" ] && echo "$f $(cat "$f")"
	done
	sed 's/^[0-9]* [0-9]* //' /proc/self/mountinfo | sort
	ip link
	ip addr | grep -v valid_lft
	ip route
	for s in $CHAOS_SYSCTLS; do echo "$s $(cat "/proc/sys/$s" 2>/dev/null)"; done
	for f in /run/ckc/* /tmp/ckc.0/*; do
		[ -e "$f" ] && [ "$f" != /run/ckc/sweep.log ] && echo "left $f"
	done
}

chaos_state() { # which of frozen / loop a run has on right now (globs: cheap enough to poll)
	for f in /sys/fs/cgroup/*/ckc-*/*/freezer.state /sys/fs/cgroup/*/ckc-*/*/*/freezer.state \
		/sys/fs/cgroup/ckc-*/*/cgroup.freeze /sys/fs/cgroup/ckc-*/*/*/cgroup.freeze; do
		[ -e "$f" ] || continue
		read -r state < "$f" 2>/dev/null
		case "$state" in FROZEN | 1) echo frozen; break ;; esac
	done
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] || continue
		case "$(cat "$f" 2>/dev/null)" in *ckc*) echo loop; break ;; esac
	done
}

centis() { # seconds since boot, in hundredths (/proc/uptime: "123.45 ...")
	read -r up _ < /proc/uptime
	echo "${up%.*}${up#*.}"
}

chaos() { # kills
	bin=$(awk '$1 == "cgroups" { print $2 }' /ckc/suites.list)
	[ -x "$bin" ] || { say "chaos: no cgroups suite"; return; }
	picture > /run/chaos-before
	start=$(centis)
	(cd /tmp && "$bin" --gtest_filter="$CHAOS_FILTER" > /tmp/chaos-clean.log 2>&1)
	rc=$?
	span=$(($(centis) - start))
	say "chaos: clean run exit $rc, $((span / 100)).$((span % 100 / 10)) s"
	i=0
	while [ "$i" -lt "$1" ]; do
		i=$((i + 1))
		case $i in 1) aim=frozen ;; 2) aim=loop ;; *) aim=random ;; esac
		(cd /tmp && exec setsid "$bin" --gtest_filter="$CHAOS_FILTER" > /tmp/chaos-$i.log 2>&1) &
		pid=$!
		# Aimed kills wait for their state until the run ends by itself (then the console says
		# so and boot_chaos fails), capped at 10 spans + 30 s: a guest slowed by a busy host (or
		# a run sweeping what the last kill left) reaches it late, not never. Random kills come
		# at a random share of a span.
		now=$(centis)
		deadline=$((now + 10 * span + 3000))
		# shellcheck disable=SC3028 # busybox ash has $RANDOM
		[ "$aim" = random ] && deadline=$((now + RANDOM % (span + 1)))
		on=""
		while [ "$(centis)" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
			on=$(chaos_state | sort -u | tr '\n' ' ')
			case " $on" in *" $aim "*) break ;; esac
			sleep 0.02
		done
		on=$(chaos_state | sort -u | tr '\n' ' ')
		if kill -0 "$pid" 2>/dev/null; then
			# setsid made the suite the leader of its own process group (field 5: pgrp); the
			# group is killed only when it is the suite's own, never init's
			if [ "$(cut -d' ' -f5 "/proc/$pid/stat" 2>/dev/null)" = "$pid" ]; then
				kill -9 "-$pid"
			else
				kill -9 "$pid"
			fi
			say "chaos: kill $i aimed at $aim, on: ${on:-nothing yet}"
		else
			say "chaos: kill $i aimed at $aim: the run had ended by itself"
		fi
		# A killed process that does not go within 20 s is reported (its state and kernel
		# stack), not waited for: the picture afterwards then shows what it holds.
		left=100
		while kill -0 "$pid" 2>/dev/null && [ "$left" -gt 0 ]; do
			sleep 0.2
			left=$((left - 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "chaos: run $i still there 20 s after SIGKILL: $(grep State "/proc/$pid/status")"
			sed 's/^/ckc-chaos-stack: /' "/proc/$pid/stack" 2>/dev/null
		else
			wait "$pid" 2>/dev/null
		fi
	done
}

chaos_verdict() {
	picture > /run/chaos-after
	if cmp -s /run/chaos-before /run/chaos-after; then
		say "chaos: picture unchanged"
	else
		say "chaos: picture changed:"
		diff /run/chaos-before /run/chaos-after | sed 's/^/ckc-chaos-diff: /'
	fi
}

main() {
	leave_rootfs
	mount_pseudo
	read_cmdline
	say "booted $(uname -r), mode $MODE"
	load_modules
	setup_cgroups
	setup_swap_and_loop
	mkdir -p /tmp/ckc-results
	DEADLINE=$(($(date +%s) + SUITE_TIMEOUT))
	# The host guard (HostGuard.Snapshot, then HostGuard.Unchanged after the last binary): a
	# suite that leaves a mount, a link or a cgroup behind in the guest fails it.
	export CKC_GUARD_FILE=/run/ckc-guard.json
	run_list /ckc/guard-before.list suite
	[ "$CHAOS" -gt 0 ] && chaos "$CHAOS"
	run_list /ckc/suites.list suite
	run_list /ckc/bench.list bench
	run_list /ckc/guard-after.list suite
	[ "$CHAOS" -gt 0 ] && chaos_verdict
	echo "CKC-DONE" > /dev/ttyS1
	say "done"
	sync
	poweroff -f
}

main
# poweroff -f does not return; should it fail, a panic (panic=-1) still ends the VM.
exit 1
