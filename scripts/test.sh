#!/usr/bin/env bash
# The whole test suite, with all set-up, on a fresh Debian machine (run as root: the tests
# switch users, enter namespaces and install seccomp filters).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the tests drop privileges for real)" >&2; exit 1; }

# Debian packages the tests use: unshare/setpriv/script (util-linux, bsdutils), python3 for
# the Python workloads and the Jupyter venv, python3-seccomp (libseccomp) to fake syscalls
# in the verification tests, gcc for the fake NVML library, g++ for torch.compile's C++ kernels
# (tests/torch_workloads.rs), tini for `docker run --init`'s terminal case (tests/stop.rs),
# OpenSSH (server and client) for the sshd tests.
need=()
for p in util-linux bsdutils python3 python3-venv python3-seccomp gcc g++ procps tini openssh-server openssh-client; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

# venv DIR PIN...: (re)create the venv DIR with the pinned packages (name==version) unless
# every pin is installed there already (a local version such as torch's +cu132 is ignored)
venv() {
    local dir=$1
    shift
    if ! "$dir/bin/python" - "$@" 2>/dev/null <<'PY'
import importlib.metadata as m, sys
sys.exit(not all(m.version(n).split("+")[0] == v for n, v in (p.split("==") for p in sys.argv[1:])))
PY
    then
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        /usr/bin/python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check --no-cache-dir "$@"
    fi
}
# jupyter_server, JupyterLab and ipykernel (pinned) in a venv the workload user (uid 1001)
# can reach: the tests start real servers under secure-init, log in over HTTP and run code
# in real kernels; ssh-audit audits the sshd secure-init configures (tests/sshd.rs).
VENV=${SI_TEST_VENV:-/opt/secure-init-test/venv}
venv "$VENV" jupyter_server==2.17.0 jupyterlab==4.4.10 ipykernel==7.4.0 ssh-audit==3.9.0
# PyTorch (the PyPI wheel, used on the CPU; pulls its CUDA libraries, ~3 GB) in its own venv:
# tests/torch_corpus.rs judges the model scan by what real torch.load does
TORCH_VENV=${SI_TORCH_VENV:-/opt/secure-init-test/torch-venv}
venv "$TORCH_VENV" torch==2.15.0 numpy==2.4.6
chmod -R a+rX "$(dirname "$VENV")" "$(dirname "$TORCH_VENV")"
export SI_TEST_VENV="$VENV" SI_TORCH_PYTHON="$TORCH_VENV/bin/python"

cargo build --all-targets   # the examples too: the probe is the tests' payload
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --lib --bins --tests -- --test-threads=2 2>&1 | tee "$log"
./scripts/lint-deploy.sh
# the Docker end-to-end suite: a real engine, the image, the scenarios (scripts/docker-e2e.sh)
e2e=$(mktemp)
./scripts/docker-e2e.sh target/debug/secure-init 2>&1 | tee "$e2e"
# the Kubernetes manifests played on podman (scripts/podman-e2e.sh, after the Docker suite,
# whose base image it reuses)
./scripts/podman-e2e.sh target/debug/secure-init 2>&1 | grep -v 'systemd connection\|connect to syslog' | tee -a "$e2e"
passed=$(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
echo
e2e_passed=$(grep -oE '^(docker|podman)-e2e: [0-9]+ passed' "$e2e" | awk '{s += $2} END {print s + 0}')
e2e_failed=$(grep -oE '^(docker|podman)-e2e: [0-9]+ passed, [0-9]+ failed' "$e2e" | awk '{s += $4} END {print s + 0}')
[ "$(grep -cE '^(docker|podman)-e2e: [0-9]+ passed' "$e2e")" = 2 ] || e2e_failed=$((e2e_failed + 1))
rm -f "$e2e"
passed=$((passed + ${e2e_passed:-0}))
failed=$((failed + ${e2e_failed:-1}))
echo "tests: $passed passed, $failed failed"
