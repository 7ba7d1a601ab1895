#!/usr/bin/env bash
# Build secure-init and run the demo training loop under it (as root): the workload runs as
# uid 1001 with no capabilities, no_new_privs and the pytorch seccomp profile. Then the probe
# shows, from inside the hardened child, what a compromised workload would find.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/demo.sh: run as root (secure-init drops root itself)" >&2; exit 1; }
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }
cargo build --release --bins --examples
demo=$(mktemp -d /tmp/secure-init-demo.XXXXXX)
chmod 755 "$demo"
cp examples/train.py target/release/examples/probe "$demo/"
echo "== secure-init -- python3 train.py"
target/release/secure-init --log-format text -- python3 "$demo/train.py" --steps 200
echo "== what the workload sees (probe posture)"
target/release/secure-init --log-level warn -- "$demo/probe" posture | column -t -s=
