#!/usr/bin/env bash
# Install an unmodified OpenStack Ironic 39.0.0 (plus python-ironicclient, for the
# `baremetal` CLI when debugging by hand) from PyPI into a virtualenv.
#
# Usage: tests/ironic/install.sh
#   IRONIC_VENV   venv directory (default: <repo>/target/ironic-venv)
#   IRONIC_PYTHON interpreter used to create the venv (default: python3; needs >= 3.11,
#                 the minimum that ironic 39.0.0 and python-ironicclient 6.3.0 declare)
#
# Idempotent: when the venv already holds the pinned versions it only prints them.
# The dependency set is pinned by tests/ironic/constraints.txt (the newest version of
# every dependency when Ironic 39.0.0 was first installed and tested; no OpenStack
# upper-constraints file), so CI installs exactly what was tested.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${IRONIC_VENV:-$REPO/target/ironic-venv}"
PYTHON="${IRONIC_PYTHON:-python3}"
CONSTRAINTS="$HERE/constraints.txt"
IRONIC_VERSION=39.0.0
CLIENT_VERSION="$(sed -n 's/^python-ironicclient==//p' "$CONSTRAINTS")"

# Prints "<ironic version> <ironicclient version>" of the venv, or nothing.
installed_versions() {
    [ -x "$VENV/bin/python" ] || return 0
    "$VENV/bin/python" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
print(version("ironic"), version("python-ironicclient"))
PY
}

if [ "$(installed_versions)" = "$IRONIC_VERSION $CLIENT_VERSION" ] \
    && [ -x "$VENV/bin/ironic" ] && [ -x "$VENV/bin/ironic-dbsync" ]; then
    echo "ironic-venv: $VENV (already installed)"
else
    "$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"ironic 39.0.0 needs Python >= 3.11, {sys.executable} is {sys.version.split()[0]}")
PY
    if [ ! -x "$VENV/bin/python" ]; then
        # A half-created venv (e.g. an interrupted run) is removed and redone.
        rm -rf "$VENV"
        mkdir -p "$(dirname "$VENV")"
        if ! "$PYTHON" -m venv "$VENV"; then
            # Debian's system python3 ships venv/ensurepip separately; pyenv and
            # python.org builds do not need this.
            rm -rf "$VENV"
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                echo "python3 -m venv failed; installing python3-venv" >&2
                apt-get install -y python3-venv >&2 \
                    || { apt-get update >&2 && apt-get install -y python3-venv >&2; }
                "$PYTHON" -m venv "$VENV"
            else
                echo "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
                exit 1
            fi
        fi
    fi
    start=$SECONDS
    # --disable-pip-version-check: the venv's bundled pip is good enough for
    # these wheels, and upgrading it costs time on every fresh CI machine.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$CONSTRAINTS" "ironic==$IRONIC_VERSION" "python-ironicclient==$CLIENT_VERSION"
    echo "ironic-venv: installed into $VENV in $((SECONDS - start)) s"
fi

read -r got_ironic got_client <<<"$(installed_versions)"
if [ "${got_ironic:-}" != "$IRONIC_VERSION" ]; then
    echo "ironic-venv: expected ironic $IRONIC_VERSION, found '${got_ironic:-none}'" >&2
    exit 1
fi
echo "ironic $got_ironic, python-ironicclient $got_client, $("$VENV/bin/python" --version)"
