#!/usr/bin/env bash
# The main job on a fresh machine: build the deploy ramdisk, start a real Ironic on loopback,
# boot the ramdisk in QEMU with virtual disks, and let Ironic build software RAID through the
# agent during a manual clean, then provide the node. Installs what it needs (apt, pip, rustup).
set -euo pipefail
cd "$(dirname "$0")"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
tests/ironic/install.sh
ramdisk/build
cargo run -q -p agent-tests --example demo
