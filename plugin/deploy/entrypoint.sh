#!/bin/sh
# Install the bond CNI plugin into the node's CNI bin directory (mounted from the host), atomically, then
# stay up (a DaemonSet pod) unless SLEEP=false (a one-shot Job).
#
# Which artifact: the zipapp when the node has a python3 >= 3.9 at /usr/bin/python3 (what it execs), checked
# by running it in the node's root (mounted read-only at $HOST_ROOT); else the standalone bundle, installed
# as the folder bond-standalone/ with `bond` a link to bond-standalone/bond. BOND_ARTIFACT=zipapp|standalone
# overrides the check.
set -eu
CNI_BIN_DIR="${CNI_BIN_DIR:-/host/opt/cni/bin/}"
CNI_BIN_DIR="${CNI_BIN_DIR%/}"
HOST_ROOT="${HOST_ROOT:-/host-root}"
PLUGIN="${PLUGIN_DIR:-/plugin}"

node_python() {
    # Prints the node's python3 version if it can run the zipapp, else fails.
    [ -e "$HOST_ROOT/usr/bin/python3" ] || return 1
    chroot "$HOST_ROOT" /usr/bin/python3 -IS -c \
        'import sys; assert sys.version_info >= (3, 9); print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null
}

artifact="${BOND_ARTIFACT:-}"
reason="BOND_ARTIFACT=$artifact"
if [ -z "$artifact" ]; then
    if version="$(node_python)"; then
        artifact=zipapp reason="the node has /usr/bin/python3 $version"
    else
        artifact=standalone reason="the node has no /usr/bin/python3 >= 3.9"
    fi
fi

case "$artifact" in
    zipapp)
        cp -f "$PLUGIN/bond" "$CNI_BIN_DIR/.bond.tmp"
        chmod 0755 "$CNI_BIN_DIR/.bond.tmp"
        mv -f "$CNI_BIN_DIR/.bond.tmp" "$CNI_BIN_DIR/bond"
        rm -rf "$CNI_BIN_DIR/bond-standalone"
        ;;
    standalone)
        rm -rf "$CNI_BIN_DIR/.bond-standalone.tmp" "$CNI_BIN_DIR/.bond-standalone.old"
        cp -a "$PLUGIN/bond-standalone" "$CNI_BIN_DIR/.bond-standalone.tmp"
        [ ! -e "$CNI_BIN_DIR/bond-standalone" ] || mv "$CNI_BIN_DIR/bond-standalone" "$CNI_BIN_DIR/.bond-standalone.old"
        mv "$CNI_BIN_DIR/.bond-standalone.tmp" "$CNI_BIN_DIR/bond-standalone"
        ln -sfn bond-standalone/bond "$CNI_BIN_DIR/.bond.tmp"
        mv -f "$CNI_BIN_DIR/.bond.tmp" "$CNI_BIN_DIR/bond"
        rm -rf "$CNI_BIN_DIR/.bond-standalone.old"
        ;;
    *)
        echo "BOND_ARTIFACT must be zipapp or standalone, not '$artifact'" >&2
        exit 2
        ;;
esac
echo "installed bond ($artifact: $reason) into $CNI_BIN_DIR: $("$PLUGIN/bond-standalone/bond" --version)"

# The node's settings (SECURITY.md): from the ConfigMap mounted at $SETTINGS_SOURCE, written root-owned 0600
# into the node's CNI config directory, where the plugin reads them (a network config never can).
SETTINGS_SOURCE="${SETTINGS_SOURCE:-/etc/bond-cni/bond.conf}"
SETTINGS_DIR="${SETTINGS_DIR:-/host/etc/cni/net.d/bond.d}"
if [ -f "$SETTINGS_SOURCE" ]; then
    mkdir -p "$SETTINGS_DIR"
    chmod 0755 "$SETTINGS_DIR"
    cp "$SETTINGS_SOURCE" "$SETTINGS_DIR/.bond.conf.tmp"
    chown 0:0 "$SETTINGS_DIR/.bond.conf.tmp"
    chmod 0600 "$SETTINGS_DIR/.bond.conf.tmp"
    mv -f "$SETTINGS_DIR/.bond.conf.tmp" "$SETTINGS_DIR/bond.conf"
    echo "node settings: $SETTINGS_DIR/bond.conf from $SETTINGS_SOURCE"
fi
if [ "${SLEEP:-true}" != "false" ]; then
    trap 'exit 0' TERM INT
    while true; do sleep 3600 & wait $!; done
fi
