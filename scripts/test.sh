#!/usr/bin/env bash
# The whole test suite, with all set-up, on a fresh Debian machine (run as root: the tests
# switch users, enter namespaces and install seccomp filters).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the tests drop privileges for real)" >&2; exit 1; }

# Debian packages the tests use: unshare/setpriv/script (util-linux, bsdutils), python3 for
# the Python workloads and the Jupyter venv, gcc for the fake NVML library.
need=()
for p in util-linux bsdutils python3 python3-venv gcc procps; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --all-targets
cargo test --all-targets -- --test-threads=2
