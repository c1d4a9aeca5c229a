#!/bin/sh
# PID 1 of the lab VM (user-mode-linux). The root file system is the host's, read-only over hostfs;
# everything the guest writes goes to tmpfs, except the control directory and the shared writable
# directories, which are hostfs mounts of the same host paths. The host side (bondlab.vm.uml) wrote
# $CTL/guest.env; this script prepares the kernel, runs the job, records its exit code, and powers off.
CTL="${1:-$BONDLAB_CTL}"
. "$CTL/guest.env"

say() { echo "bondlab-guest: $*" >&2; }
power_off() {
    sync
    # busybox does the reboot(2) call without an init system; Python's ctypes is the fallback.
    /bin/busybox poweroff -f 2>/dev/null
    exec python3 -c 'import ctypes; ctypes.CDLL(None).reboot(0x4321fedc)'
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
for d in /tmp /run /var/tmp /var/lib /var/log /dev/shm; do mount -t tmpfs -o mode=1777 tmpfs "$d"; done
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "$BONDLAB_PRINTK" > /proc/sys/kernel/printk

# The job's working directory is writable but thrown away (caches, .pytest_cache, build output):
# an overlay with its upper layer on tmpfs.
if [ -d "$BONDLAB_CWD" ] && [ "$BONDLAB_CWD" != / ]; then
    mkdir -p /tmp/.bondlab-overlay/upper /tmp/.bondlab-overlay/work
    mount -t overlay overlay \
        -o "lowerdir=$BONDLAB_CWD,upperdir=/tmp/.bondlab-overlay/upper,workdir=/tmp/.bondlab-overlay/work" \
        "$BONDLAB_CWD" || say "no overlay on $BONDLAB_CWD: it stays read-only"
fi

# The control directory and the shared writable directories go back to the host.
for d in "$CTL" $BONDLAB_RW_DIRS; do
    mkdir -p "$d" 2>/dev/null
    mount -t hostfs -o "$d" hostfs "$d" || { say "cannot mount $d writable"; power_off; }
done

# A distribution UML kernel keeps bonding & co. as modules: give modprobe a writable
# /lib/modules that points at the UML module tree.
if [ -n "$BONDLAB_MODULES_DIR" ]; then
    mount -t tmpfs tmpfs /usr/lib/modules
    ln -s "$BONDLAB_MODULES_DIR" "/usr/lib/modules/$(uname -r)"
    for m in $BONDLAB_MODULES; do
        case "$m" in
            bonding) modprobe bonding max_bonds=0 ;;
            *) modprobe "$m" ;;
        esac || say "module $m did not load"
    done
fi
ip link set lo up

echo "$BONDLAB_BEGIN_MARK"
(
    cd "$BONDLAB_CWD" || exit 127
    exec "$CTL/job.sh" </dev/null
)
rc=$?
echo "$rc" > "$CTL/exitcode.tmp" && mv "$CTL/exitcode.tmp" "$CTL/exitcode"
echo "$BONDLAB_END_MARK"
power_off
