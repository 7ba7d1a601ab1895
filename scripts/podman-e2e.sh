#!/usr/bin/env bash
# The Kubernetes manifests of examples/k8s played on a real engine: Debian's podman
# (`podman kube play`, which reads Kubernetes YAML and applies much of a pod spec), with the
# Docker suite's image (the same Dockerfile and base, built here with podman). Each manifest
# is played as a user would after replacing what is site-specific (the image, the GPU, the
# secrets' values, a published port); what podman ignores is listed in docs "Deployment".
# Run as root after scripts/docker-e2e.sh (its base image tarball and wheels are reused):
#     scripts/podman-e2e.sh [path/to/secure-init]
# Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "podman-e2e: run as root" >&2; exit 1; }
BIN=${1:-target/debug/secure-init}
STATE=${SI_E2E_STATE:-/var/lib/secure-init-e2e}
VENV=${SI_TEST_VENV:-/opt/secure-init-test/venv}
LINT=${SI_LINT_VENV:-/opt/secure-init-test/lint}
IMG=localhost/secure-init-e2e:latest
started=$(date +%s)
[ -s "$STATE/base.tar" ] || { echo "podman-e2e: $STATE/base.tar missing: run scripts/docker-e2e.sh first" >&2; exit 1; }

need=()
for p in podman runc catatonit; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's podman 4.3 here: runc (crun fails on this host's cgroup layout), no default
# ulimits (raising them needs CAP_SYS_RESOURCE), events to a file (no journald)
conf=$(mktemp)
cat >"$conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$conf
P=podman
work=$(mktemp -d)
cleanup_pods() {
    $P pod stop -a -t 0 >/dev/null 2>&1 || true
    $P pod rm -af >/dev/null 2>&1 || true
    $P rm -af >/dev/null 2>&1 || true
    $P volume prune -f >/dev/null 2>&1 || true
}
cleanup() {
    cleanup_pods
    rm -rf "$work" "$conf"
}
trap cleanup EXIT
cleanup_pods
mkdir -p "$work"

# --- the image: the Docker suite's Dockerfile on the same debootstrap base
$P image exists localhost/secure-init-e2e-base:bookworm ||
    $P import -q "$STATE/base.tar" localhost/secure-init-e2e-base:bookworm >/dev/null
ctx=$work/ctx
mkdir -p "$ctx"
cp -r "$STATE/wheels" "$ctx/wheels"
cp "$BIN" "$ctx/secure-init"
cp examples/train.py "$ctx/train.py"
sed 's|^ARG BASE_IMAGE=.*|ARG BASE_IMAGE=localhost/secure-init-e2e-base:bookworm|' tests/docker/Dockerfile >"$ctx/Dockerfile"
# (the app directory the manifests' Jobs run, as the project's Dockerfile ships it)
printf 'COPY train.py /opt/app/train.py\n' >>"$ctx/Dockerfile"
$P build -q --format docker -t "$IMG" "$ctx" >/dev/null

# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh

# local FILE OUT PORT PASSWORD: the manifest as a user plays it locally — the suite's image
# (jupyter_server, not lab; no GPU; SI_IMAGE another), the secrets' values (PASSWORD, or
# SI_SECRET_<key>), published ports (Jupyter's on PORT, sshd's on SI_SSH_PORT); a Job
# becomes its pod template (podman has no Job kind)
local_manifest() {
    "$LINT/bin/python" - "$@" "$work/secrets" <<'PY'
import os, sys, yaml
src, out, port, password, secrets = sys.argv[1:6]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
res = []
keys = {}
for d in docs:
    if d["kind"] == "Secret":
        # podman mounts secret volumes 0644 whatever defaultMode says, which secure-init
        # refuses for a password (the workload could read it): a root-only directory
        # on the host instead, as a podman user would mount it
        keys[d["metadata"]["name"]] = list(d.get("stringData", {}))
        continue
    elif d["kind"] in ("Deployment", "Job"):
        spec = d["spec"]["template"]["spec"]
        if d["kind"] == "Job":
            d = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": d["metadata"]["name"]}, "spec": spec}
        for c in spec["containers"]:
            c["image"] = os.environ.get("SI_IMAGE", "localhost/secure-init-e2e:latest")
            c["imagePullPolicy"] = "Never"
            c["resources"]["limits"].pop("nvidia.com/gpu", None)
            c["env"] = [e for e in c.get("env", []) if e["name"] != "SECURE_INIT_GPU"]
            if c["args"][:2] == ["jupyter", "lab"]:
                c["args"] = ["jupyter", "server", "--no-browser"]
            for p in c.get("ports", []):
                host = {8888: int(port), 2222: int(os.environ.get("SI_SSH_PORT", "0"))}.get(p.get("containerPort"))
                if host:
                    p["hostPort"] = host
                    p["hostIP"] = "127.0.0.1"
        # podman ignores fsGroup (no supplementary group is added): the pod's own group
        # stands in for it, as a podman user would give the file
        psc = spec.get("securityContext", {})
        group = psc.get("runAsGroup", psc.get("fsGroup", 0))
        for v in spec["volumes"]:
            if "secret" in v:
                sec = v.pop("secret")
                name, mode = sec["secretName"], sec.get("defaultMode", 0o644)
                d_ = os.path.join(secrets, name)
                os.makedirs(d_, mode=0o755, exist_ok=True)
                for k in keys.get(name, []):
                    f = os.path.join(d_, k)
                    with open(f, "w") as fh:
                        fh.write(os.environ.get("SI_SECRET_" + k, password) + "\n")
                    os.chown(f, 0, group)   # as the kubelet does with fsGroup
                    os.chmod(f, mode)
                v["hostPath"] = {"path": d_, "type": "Directory"}
    elif d["kind"] != "Service":
        continue
    res.append(d)
yaml.safe_dump_all(res, open(out, "w"))
PY
}

login() { # PORT PASSWORD: 302 for the password
    "$VENV/bin/python" - "$1" "$2" <<PY
$(cat tests/jupyter_http.py)
print(login("http://127.0.0.1:%s" % sys.argv[1], sys.argv[2])[0])
PY
}
ready() { for _ in $(seq 120); do curl -fs -o /dev/null "http://127.0.0.1:$1/api" && return 0; sleep 0.5; done; return 1; }
posture_of() { # CONTAINER PATTERN: the status lines of the process whose command matches
    $P exec "$1" sh -c "grep -E '^(Uid|Groups|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/\$(pgrep -f '$2' | head -1)/status"
}

# 1. jupyter-root.yaml: the pod starts as root, secure-init drops to 1001
pw='podman e2e password 1'
local_manifest examples/k8s/jupyter-root.yaml "$work/root.yaml" 18888 "$pw"
$P kube play "$work/root.yaml" >/dev/null
ctr=$($P ps -a --format '{{.Names}}' | grep -E '^jupyter-.*-jupyter$' | head -1 || true)
ready 18888 || true
code=$(login 18888 "$pw" 2>&1 || true)
wrong=$(login 18888 "not the password" 2>&1 || true)
out=$(posture_of "$ctr" jupyter-server 2>&1 || true)
root_ok() {
    [ "$code" = 302 ] && [ "$wrong" != 302 ] && contains "$out" "Uid:	1001" &&
        contains "$out" "CapEff:	0000000000000000" && contains "$out" "NoNewPrivs:	1" &&
        contains "$out" "Seccomp:	2"
}
check "kube play jupyter-root.yaml: login with the secret (got $code), server as 1001, no capabilities, seccomp" root_ok
# a restart inside the pod (the Deployment's restartPolicy: Always): the container stops and
# starts again over the same /run/secure-init emptyDir, which keeps the last start's files
$P exec "$ctr" kill -TERM 1
for _ in $(seq 60); do
    [ "$($P inspect "$ctr" --format '{{.RestartCount}}' 2>/dev/null)" -ge 1 ] 2>/dev/null && break
    sleep 0.5
done
restarts=$($P inspect "$ctr" --format '{{.RestartCount}}' 2>/dev/null || echo 0)
sleep 1
ready 18888 || true
code=$(login 18888 "$pw" 2>&1 || true)
logs=$($P logs "$ctr" 2>&1 || true)
restarted() { [ "$restarts" -ge 1 ] && [ "$code" = 302 ] && ! contains "$logs" '"event":"fatal"' >/dev/null; }
check "jupyter-root.yaml: the container restarted ($restarts) over its /run/secure-init and logs in again (got $code)" restarted
cleanup_pods

# 2. jupyter-nonroot.yaml: runAsUser 1001 from the start (verify-only), the hash as secret
hash=$(printf '%s\n' "$pw" | "$BIN" hash-password)
local_manifest examples/k8s/jupyter-nonroot.yaml "$work/nonroot.yaml" 18889 "$hash"
# podman plays Localhost seccomp profiles from its own directory: give it secure-init's
mkdir -p /var/lib/kubelet/seccomp/profiles
"$BIN" profile show pytorch >/var/lib/kubelet/seccomp/profiles/secure-init-pytorch.json
$P kube play --seccomp-profile-root /var/lib/kubelet/seccomp "$work/nonroot.yaml" >/dev/null
ctr=$($P ps -a --format '{{.Names}}' | grep -E '^jupyter-nonroot-.*-jupyter$' | head -1 || true)
ready 18889 || true
code=$(login 18889 "$pw" 2>&1 || true)
out=$(posture_of "$ctr" jupyter-server 2>&1 || true)
logs=$($P logs "$ctr" 2>&1 || true)
nonroot_ok() {
    [ "$code" = 302 ] && contains "$out" "Uid:	1001" && contains "$out" "CapEff:	0000000000000000" &&
        contains "$out" "NoNewPrivs:	1" && contains "$logs" "verify-only" &&
        ! contains "$logs" "SETPCAP" >/dev/null
}
check "kube play jupyter-nonroot.yaml: verify-only as 1001, login with the hashed secret (got $code), no SETPCAP advice" nonroot_ok
cleanup_pods

# 3. jupyter-ssh.yaml: Jupyter and sshd side by side (the image built with SSHD=1 is the
#    suite's image plus Debian's openssh-server, from packages downloaded on the host: no
#    network inside the build); login to both through the published ports
debs=$STATE/debs
if ! ls "$debs"/openssh-server_*.deb >/dev/null 2>&1; then
    mkdir -p "$debs"
    (cd "$debs" && apt-get download -q openssh-server openssh-sftp-server openssh-client \
        libwrap0 libedit2 libfido2-1 libcbor0.8 libbsd0 libmd0 >/dev/null 2>&1)
fi
sctx=$work/sshctx
mkdir -p "$sctx"
cp -r "$debs" "$sctx/debs"
cat >"$sctx/Dockerfile" <<'EOF'
FROM localhost/secure-init-e2e:latest
COPY debs /tmp/debs
# the package's scripts want what minbase lacks (ucf): the binaries are all that is used;
# its host keys are removed, as the project's Dockerfile does (secure-init makes one per start)
RUN dpkg -i /tmp/debs/*.deb >/dev/null 2>&1; test -x /usr/sbin/sshd && rm -rf /tmp/debs /etc/ssh/ssh_host_*
EOF
$P build -q --format docker -t localhost/secure-init-e2e-ssh:latest "$sctx" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/client" -C e2e
SI_IMAGE=localhost/secure-init-e2e-ssh:latest SI_SSH_PORT=12222 \
    SI_SECRET_ssh_authorized_keys="$(cat "$work/client.pub")" \
    local_manifest examples/k8s/jupyter-ssh.yaml "$work/ssh.yaml" 18890 "$pw"
$P kube play "$work/ssh.yaml" >/dev/null
ctr=$($P ps -a --format '{{.Names}}' | grep -E '^jupyter-ssh-.*-jupyter-ssh$' | head -1 || true)
ready 18890 || true
code=$(login 18890 "$pw" 2>&1 || true)
sshout=$(ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o IdentitiesOnly=yes -o LogLevel=ERROR -o ConnectTimeout=10 -i "$work/client" -p 12222 \
    aiuser@127.0.0.1 "id -u; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status" 2>&1 || true)
logs=$($P logs "$ctr" 2>&1 || true)
ssh_ok() {
    [ "$code" = 302 ] && contains "$sshout" "1001" && contains "$sshout" "CapEff:	0000000000000000" &&
        contains "$sshout" "NoNewPrivs:	1" && contains "$logs" '"event":"ssh.login.accepted"'
}
check "kube play jupyter-ssh.yaml: Jupyter (got $code) and a key login over SSH, both as 1001 without capabilities" ssh_ok
cleanup_pods

# 4. train-job.yaml's pod (train-root): `podman pod stop` -> SIGTERM forwarded, checkpoint, 143
"$LINT/bin/python" - examples/k8s/train-job.yaml "$work/train-src.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["metadata"]["name"] == "train-root"]
c = docs[0]["spec"]["template"]["spec"]["containers"][0]
c["args"] = ["python3", "/opt/app/train.py", "--steps", "100000", "--step-seconds", "0.01"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
local_manifest "$work/train-src.yaml" "$work/train.yaml" 0 unused
$P kube play "$work/train.yaml" >/dev/null
ctr=$($P ps -a --format '{{.Names}}' | grep -E '^train-root-train$' | head -1 || true)
sleep 3
$P pod stop -t 30 train-root >/dev/null
code=$($P inspect "$ctr" --format '{{.State.ExitCode}}' 2>/dev/null || echo none)
logs=$($P logs "$ctr" 2>&1 || true)
trained() { [ "$code" = 143 ] && contains "$logs" "checkpoint saved" && contains "$logs" '"event":"child.exit"'; }
check "kube play train-job.yaml (train-root), podman pod stop: checkpoint saved, exit 143 (got $code)" trained
cleanup_pods

echo
echo "podman-e2e: $pass passed, $fail failed in $(($(date +%s) - started)) s"
[ "$fail" = 0 ]
