#!/bin/sh
# PID 1 of the lab VM (user-mode-linux, or qemu after its initramfs). The root file system is the
# host's, read-only (hostfs or 9p); everything the guest writes goes to tmpfs, except the control
# directory and the shared writable directories, which are mounts of the same host paths. The host
# side (bondlab.vm.guest) wrote $CTL/guest.env; this script prepares the kernel, runs the job,
# records its exit code, and powers off.
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
mount -t devtmpfs devtmpfs /dev 2>/dev/null  # already there when an initramfs moved it
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
# Scratch space is tmpfs. The host paths the job needs (its working directory, its Python, the
# kernel's modules) stay visible even when they live under a scratch directory: a bind of the root,
# taken before the tmpfs mounts cover them, gives them back.
mkdir -p /dev/.bondlab-root && mount --bind / /dev/.bondlab-root
for d in /run /var/tmp /var/lib /var/log /dev/shm; do mount -t tmpfs -o mode=1777 tmpfs "$d"; done
# /tmp shows the host's files (a scenario or deploy file the user keeps there) but takes writes on tmpfs
# (where the root file system cannot be an overlay's lower layer, the kept paths below still show).
mkdir -p /run/.bondlab-tmp/upper /run/.bondlab-tmp/work
mount -t overlay overlay -o lowerdir=/dev/.bondlab-root/tmp,upperdir=/run/.bondlab-tmp/upper,workdir=/run/.bondlab-tmp/work /tmp \
    || mount -t tmpfs -o mode=1777 tmpfs /tmp
for keep in $BONDLAB_KEEP; do
    case "$keep" in
        /tmp/*|/run/*|/var/tmp/*|/var/lib/*|/var/log/*)
            mkdir -p "$keep" && mount --bind "/dev/.bondlab-root$keep" "$keep" || say "cannot keep $keep visible" ;;
    esac
done
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "$BONDLAB_PRINTK" > /proc/sys/kernel/printk

# A distribution kernel keeps bonding & co. as modules: modprobe finds them through a module root
# of our own on tmpfs (the host's /usr/lib/modules may not exist and cannot be written).
if [ -n "$BONDLAB_MODULES_DIR" ]; then
    modroot=/run/.bondlab-modules
    mkdir -p "$modroot/lib/modules"
    ln -s "$BONDLAB_MODULES_DIR" "$modroot/lib/modules/$(uname -r)"
    for m in $BONDLAB_MODULES; do
        case "$m" in
            bonding) modprobe -d "$modroot" bonding max_bonds=0 ;;
            *) modprobe -d "$modroot" "$m" ;;
        esac 2>/dev/null || say "module $m did not load"
    done
fi

# The job's working directory is writable but thrown away (caches, .pytest_cache, build output):
# an overlay with its upper layer on tmpfs.
if [ -d "$BONDLAB_CWD" ] && [ "$BONDLAB_CWD" != / ]; then
    mkdir -p /run/.bondlab-overlay/upper /run/.bondlab-overlay/work
    mount -t overlay overlay \
        -o "lowerdir=$BONDLAB_CWD,upperdir=/run/.bondlab-overlay/upper,workdir=/run/.bondlab-overlay/work" \
        "$BONDLAB_CWD" || say "no overlay on $BONDLAB_CWD: it stays read-only"
fi

# The control directory and the shared writable directories go back to the host:
# hostfs in UML (any host path), virtio-9p in qemu (one tag per directory).
for share in $BONDLAB_SHARES; do
    tag="${share%%=*}" dir="${share#*=}"
    mkdir -p "$dir" 2>/dev/null
    case "$BONDLAB_SHARED_FS" in
        hostfs) mount -t hostfs -o "$dir" hostfs "$dir" ;;
        9p) mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none "$tag" "$dir" ;;
    esac || { say "cannot mount $dir writable"; power_off; }
done

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
