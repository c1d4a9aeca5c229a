#!/bin/sh
# Copy the plugin into the node's CNI bin directory (mounted from the host), atomically, then stay up
# (a DaemonSet pod) unless SLEEP=false (a one-shot Job).
set -eu
CNI_BIN_DIR="${CNI_BIN_DIR:-/host/opt/cni/bin/}"
cp -f /bond "${CNI_BIN_DIR%/}/.bond.tmp"
chmod 0755 "${CNI_BIN_DIR%/}/.bond.tmp"
mv -f "${CNI_BIN_DIR%/}/.bond.tmp" "${CNI_BIN_DIR%/}/bond"
echo "installed bond into ${CNI_BIN_DIR}"
if [ "${SLEEP:-true}" != "false" ]; then
    trap 'exit 0' TERM INT
    while true; do sleep 3600 & wait $!; done
fi
