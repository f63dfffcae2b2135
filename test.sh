#!/usr/bin/env bash
# The project's test command (also what CI runs): installs what the tests need, then runs
# every test in the workspace: unit tests, the API conformance suite, the real Ironic from
# PyPI driving the agent, and QEMU boots of the ramdisk. Safe to re-run; installs are cached.
set -euo pipefail
cd "$(dirname "$0")"

# System packages: only what is missing (CI starts from a clean machine).
need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# qemu-img: the deploy's qcow2 reader is unit-tested against images qemu-img makes.
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# The pinned, unmodified Ironic from PyPI (reused when already installed).
tests/ironic/install.sh

# Ramdisk tools and QEMU are installed by the QEMU harness itself when first needed.
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast "$@"
