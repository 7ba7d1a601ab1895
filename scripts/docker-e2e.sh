#!/usr/bin/env bash
# The Docker end-to-end suite: secure-init as the ENTRYPOINT of a real image in a real Docker
# Engine (Debian's docker.io). Installs docker.io and debootstrap, starts its own dockerd
# (stopped at the end; an already running one is used instead), builds a Debian base image
# with debootstrap (no registry here) and the image of tests/docker/Dockerfile with the
# freshly built binary, then runs the scenarios a user meets. Run as root from anywhere:
#     scripts/docker-e2e.sh [path/to/secure-init]
# Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "docker-e2e: run as root" >&2; exit 1; }
BIN=${1:-target/debug/secure-init}
[ -x "$BIN" ] || { echo "docker-e2e: $BIN not built (cargo build)" >&2; exit 1; }
STATE=${SI_E2E_STATE:-/var/lib/secure-init-e2e}
RUNDIR=/run/secure-init-e2e
VENV=${SI_TEST_VENV:-/opt/secure-init-test/venv}
IMG=secure-init-e2e:latest
BASE=secure-init-e2e-base:bookworm
started=$(date +%s)

need=()
for p in docker.io docker-compose debootstrap bsdutils curl; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- the engine: the running one, or our own
mkdir -p "$STATE" "$RUNDIR"
own_dockerd=
if /usr/bin/docker info >/dev/null 2>&1; then
    echo "docker-e2e: using the running Docker engine"
else
    export DOCKER_HOST=unix://$RUNDIR/docker.sock
    dockerd --data-root "$STATE/docker" --exec-root "$RUNDIR/exec" --pidfile "$RUNDIR/dockerd.pid" \
        -H "$DOCKER_HOST" >"$RUNDIR/dockerd.log" 2>&1 &
    own_dockerd=$!
    for _ in $(seq 100); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 0.2; done
    /usr/bin/docker info >/dev/null 2>&1 || { echo "docker-e2e: dockerd did not start:"; tail -20 "$RUNDIR/dockerd.log"; exit 1; }
fi
D=/usr/bin/docker
cleanup() {
    $D ps -aq --filter label=secure-init-e2e | xargs -r $D rm -f >/dev/null 2>&1 || true
    if [ -n "$own_dockerd" ]; then
        kill "$own_dockerd" 2>/dev/null || true
        wait "$own_dockerd" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# --- the base image (cached) and the suite's image
if ! $D image inspect "$BASE" >/dev/null 2>&1; then
    if [ ! -s "$STATE/base.tar" ]; then
        rm -rf "$STATE/rootfs"
        debootstrap --variant=minbase --include=python3,python3-pip,procps bookworm \
            "$STATE/rootfs" http://deb.debian.org/debian >"$STATE/debootstrap.log" 2>&1 \
            || { tail -20 "$STATE/debootstrap.log"; exit 1; }
        tar -C "$STATE/rootfs" -cf "$STATE/base.tar" .
        rm -rf "$STATE/rootfs"
    fi
    $D import "$STATE/base.tar" "$BASE" >/dev/null
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"; cleanup' EXIT
mkdir -p "$STATE/wheels"
if ! ls "$STATE"/wheels/jupyter_server-2.17.0-*.whl >/dev/null 2>&1; then
    "$VENV/bin/pip" download -q --disable-pip-version-check --only-binary=:all: \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        --python-version 3.11 --implementation cp -d "$STATE/wheels" jupyter_server==2.17.0
fi
cp -r "$STATE/wheels" "$ctx/wheels"
cp "$BIN" "$ctx/secure-init"
cp examples/train.py "$ctx/train.py"
cp tests/docker/Dockerfile "$ctx/Dockerfile"
$D build -q -t "$IMG" "$ctx" >/dev/null

# --- the scenarios
# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh
run() { $D run --rm --label secure-init-e2e "$@"; }

# 1. the default posture, from inside; Docker's filter and secure-init's both installed
out=$(run "$IMG" sh -c 'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status' 2>/dev/null)
posture() {
    contains "$out" "1001" && contains "$out" "CapEff:	0000000000000000" &&
        contains "$out" "NoNewPrivs:	1" && contains "$out" "Seccomp:	2" &&
        contains "$out" "Seccomp_filters:	2"
}
check "default posture: uid 1001, no capabilities, no_new_privs, two seccomp filters" posture

# 2. docker stop: SIGTERM forwarded, checkpoint written, 143
vol=$(mktemp -d)
chmod 777 "$vol"
cid=$($D run -d --label secure-init-e2e -v "$vol:/ckpt" -e SECURE_INIT_WRITABLE=/ckpt "$IMG" python3 train.py --steps 100000 --step-seconds 0.01 --checkpoint /ckpt/model)
sleep 2
$D stop -t 20 "$cid" >/dev/null
code=$($D wait "$cid")
logs=$($D logs "$cid" 2>&1)
$D rm "$cid" >/dev/null
stopped() { [ "$code" = 143 ] && ls "$vol"/model* >/dev/null 2>&1 && contains "$logs" '"event":"child.exit"'; }
check "docker stop: checkpoint written, exit 143 (got $code)" stopped
rm -rf "$vol"

# 2a. the same through a wrapper shell (CMD ["bash","-c","python train.py; echo done"]): the
#     shell dies at the forwarded SIGTERM, the trainer is a leftover that gets exactly one
#     SIGTERM and the time to save (the stop grace) before SIGKILL
vol=$(mktemp -d)
chmod 777 "$vol"
cid=$($D run -d --label secure-init-e2e -v "$vol:/ckpt" "$IMG" bash -c "python3 train.py --steps 100000 --step-seconds 0.01 --checkpoint /ckpt/model; echo done")
sleep 2
$D stop -t 20 "$cid" >/dev/null
code=$($D wait "$cid")
logs=$($D logs "$cid" 2>&1)
$D rm "$cid" >/dev/null
wrapped() { [ "$code" = 143 ] && ls "$vol"/model* >/dev/null 2>&1 && contains "$logs" "checkpoint saved" && contains "$logs" '"event":"child.leftovers"' && contains "$logs" '"killed":0'; }
check "docker stop through a wrapper shell: the trainer's one SIGTERM, checkpoint written (got $code)" wrapped
rm -rf "$vol"

# 2c. a job that outgrows --memory: child.exit says oom_killed
out=$(run --memory 64m --memory-swap 64m "$IMG" python3 -c 'b = b"x" * (400 << 20)' 2>&1) && code=0 || code=$?
oom() { [ "$code" = 137 ] && contains "$out" '"reason":"oom_killed"'; }
check "docker run --memory 64m, 400 MB allocated: exit 137, reason oom_killed (got $code)" oom

# 2d. docker run -it --init: tini leads the terminal's session; job control is kept
jc='set -- $(sed "s/.*) //" /proc/$$/stat); case $- in *m*) m=on;; *) m=off;; esac; [ "$3" = "$6" ] && f=yes || f=no; echo "MONITOR=$m FG=$f"'
out=$(script -qec "$D run --rm -it --init --label secure-init-e2e $IMG bash --norc -ic '$jc'" /dev/null 2>&1) || true
jobctl() { contains "$out" "MONITOR=on FG=yes" && ! grep -q "no job control" <<<"$out"; }
check "docker run -it --init: the shell has job control and the terminal's foreground" jobctl

# 2b. a volume mounted read-write is writable without --writable (the checkpoint directory of
#     `docker run -v ckpt:/ckpt … --out /ckpt`), a --tmpfs too; the Docker socket is not
vol=$(mktemp -d)
chmod 777 "$vol"
out=$(run -v "$vol:/ckpt" --tmpfs /scratch:mode=1777 "$IMG" sh -c 'echo x > /ckpt/model.pt && echo x > /scratch/f && echo WROTE' 2>&1) && code=0 || code=$?
volumes() { [ "$code" = 0 ] && contains "$out" "WROTE" && [ -s "$vol/model.pt" ] && contains "$out" '"volumes":["/ckpt","/scratch"]'; }
check "a read-write volume and a tmpfs are writable without --writable, listed in landlock.install" volumes
out=$(run -v "$vol:/ckpt" -e SECURE_INIT_WRITABLE_MOUNTS=off "$IMG" sh -c 'echo x > /ckpt/other.pt && echo WROTE' 2>&1) && code=0 || code=$?
volumes_off() { ! contains "$out" "WROTE" >/dev/null && contains "$out" '"event":"landlock.volume"' && contains "$out" "--writable /ckpt makes it writable"; }
check "--writable-mounts off: the volume refused and named with the --writable that opens it" volumes_off
rm -rf "$vol"

# 3. --cap-drop ALL: refused with the advice; the three capabilities it needs: runs
out=$(run --cap-drop ALL "$IMG" true 2>&1) && code=0 || code=$?
capdrop() { [ "$code" = 77 ] && contains "$out" "SETUID" && contains "$out" "SETGID"; }
check "--cap-drop ALL: refused (77) naming SETUID/SETGID (got $code)" capdrop
out=$(run --cap-drop ALL --cap-add SETUID --cap-add SETGID --cap-add SETPCAP --cap-add KILL "$IMG" sh -c 'id -u; grep CapEff /proc/self/status' 2>&1) && code=0 || code=$?
fourcaps() { [ "$code" = 0 ] && contains "$out" "1001" && contains "$out" "CapEff:	0000000000000000" && contains "$out" "supervisor runs as uid 65533 with CAP_KILL only"; }
check "--cap-drop ALL --cap-add SETUID,SETGID,SETPCAP,KILL: 1001 with none, supervisor on its own uid" fourcaps
out=$(run --cap-drop ALL --cap-add SETUID --cap-add SETGID --cap-add SETPCAP "$IMG" sh -c 'id -u; grep CapEff /proc/self/status' 2>&1) && code=0 || code=$?
threecaps() { [ "$code" = 0 ] && contains "$out" "1001" && contains "$out" "CapEff:	0000000000000000" && contains "$out" "no CAP_KILL"; }
check "--cap-drop ALL --cap-add SETUID,SETGID,SETPCAP: runs; the supervisor shares the uid, warned" threecaps

# 4. --user 1001: verify-only
out=$(run --user 1001:1001 "$IMG" sh -c 'id -u; grep -E "CapEff|NoNewPrivs" /proc/self/status' 2>&1) && code=0 || code=$?
verify() { [ "$code" = 0 ] && contains "$out" "verify-only" && contains "$out" "NoNewPrivs:	1"; }
check "--user 1001: verify-only mode" verify

# 5. --read-only with the documented tmpfs: Jupyter's config is written; without it: the advice
pw=$(mktemp -d)
printf '%s\n' 'e2e password 123' >"$pw/jupyter_password"
chmod 600 "$pw/jupyter_password"
out=$(run --read-only --tmpfs /tmp -v "$pw/jupyter_password:/run/secrets/jupyter_password:ro" "$IMG" 2>&1) && code=0 || code=$?
readonly_refusal() { [ "$code" != 0 ] && contains "$out" "--tmpfs /run/secure-init"; }
check "--read-only without a tmpfs: refused naming --tmpfs /run/secure-init" readonly_refusal
out=$(run --read-only --tmpfs /tmp --tmpfs /run/secure-init -v "$pw/jupyter_password:/run/secrets/jupyter_password:ro" "$IMG" sh -c 'ls /run/secure-init/jupyter' 2>&1) && code=0 || code=$?
readonly_ok() { [ "$code" = 0 ] && contains "$out" "jupyter_server_config.json"; }
check "--read-only with --tmpfs /run/secure-init: config written" readonly_ok

# 5b. Jupyter without CAP_CHOWN: refused, naming it
out=$(run --cap-drop ALL --cap-add SETUID --cap-add SETGID --cap-add SETPCAP --cap-add KILL -v "$pw/jupyter_password:/run/secrets/jupyter_password:ro" "$IMG" 2>&1) && code=0 || code=$?
nochown() { [ "$code" = 77 ] && contains "$out" "CHOWN"; }
check "Jupyter with cap_drop ALL and no CHOWN: refused (77) naming CHOWN" nochown

# 6. -it: the command owns the terminal's foreground (job control)
out=$(script -qec "$D run --rm -it --label secure-init-e2e $IMG sh -c 'cut -d\" \" -f5,8 /proc/self/stat'" /dev/null 2>&1 | tr -d '\r' | grep -E '^[0-9]+ [0-9-]+$' | tail -1)
jobctl() { set -- $out; [ -n "${1:-}" ] && [ "$1" = "$2" ]; }
check "-it: the command's process group is the terminal's foreground ($out)" jobctl

# 7. orphans are reaped by PID 1
out=$(run "$IMG" sh -c 'for i in 1 2 3 4 5; do (sleep 0.1 &) ; done; sleep 1; ps -eo stat= | grep -c "^Z" || true' 2>/dev/null)
check "orphans reaped: no zombies (got ${out:-?})" test "${out:-1}" = 0

# 8. HEALTHCHECK: healthy for a training command and for Jupyter (on its own port)
health() { # container id: wait for "healthy"
    for _ in $(seq 60); do
        s=$($D inspect -f '{{.State.Health.Status}}' "$1")
        [ "$s" = healthy ] && return 0
        [ "$s" = unhealthy ] && break
        sleep 0.5
    done
    echo "  health: $s"; $D logs "$1" 2>&1 | tail -5
    return 1
}
hc=(--health-interval 1s --health-start-period 0s --health-retries 3)
cid=$($D run -d --label secure-init-e2e "${hc[@]}" "$IMG" python3 train.py --steps 100000 --step-seconds 0.01)
check "HEALTHCHECK: a training command is healthy" health "$cid"
$D rm -f "$cid" >/dev/null
cid=$($D run -d --label secure-init-e2e "${hc[@]}" -v "$pw/jupyter_password:/run/secrets/jupyter_password:ro" "$IMG" jupyter server --port=9999)
check "HEALTHCHECK: Jupyter on another port (--port=9999) is healthy" health "$cid"
$D rm -f "$cid" >/dev/null

# 9. Jupyter login through a published port, the password from a mounted secret
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cid=$($D run -d --label secure-init-e2e -p "127.0.0.1:$port:8888" -v "$pw/jupyter_password:/run/secrets/jupyter_password:ro" "$IMG")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/api" && break; sleep 0.3; done
login() {
    /usr/bin/python3 - "$port" <<'PY'
import http.cookiejar, sys, urllib.error, urllib.parse, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
op.open(base + "/login").read()
xsrf = next(c.value for c in jar if c.name == "_xsrf")
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
op2 = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
def post(pw):
    try:
        return op2.open(base + "/login", data=urllib.parse.urlencode({"password": pw, "_xsrf": xsrf}).encode()).status
    except urllib.error.HTTPError as e:
        return e.code
assert post("wrong password 1") != 302, "a wrong password logged in"
assert post("e2e password 123") == 302, "the right password did not log in"
assert op.open(base + "/api/status").status == 200
try:
    urllib.request.urlopen(base + "/api/status?token=anything")
    raise SystemExit("a token was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
PY
}
check "Jupyter through -p 127.0.0.1: password from /run/secrets logs in, wrong password and token refused" login
$D rm -f "$cid" >/dev/null
rm -rf "$pw"

# 10. docker-compose up with examples/docker-compose.yml, its header followed to the letter;
#     the only changes: our image instead of the PyTorch build, no GPU reservation (no GPU here)
comp=$(mktemp -d)
mkdir -p "$comp/examples"
/usr/bin/python3 - examples/docker-compose.yml "$comp/examples/docker-compose.yml" "$IMG" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
j = c["services"]["jupyter"]
j.pop("build", None)
j.pop("deploy", None)
j["image"] = sys.argv[3]
j["command"] = ["jupyter", "server", "--no-browser"]   # the image has jupyter_server, not lab
j.get("environment", {}).pop("SECURE_INIT_GPU", None)  # "require": there is no GPU here
yaml.safe_dump(c, open(sys.argv[2], "w"))
PY
(
    cd "$comp"
    printf '%s\n' 'e2e password 123' > examples/jupyter_password.txt
    chown 0:0 examples/jupyter_password.txt && chmod 0400 examples/jupyter_password.txt
    docker-compose -p sie2e -f examples/docker-compose.yml up -d jupyter >/dev/null 2>&1
)
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8888/api && break; sleep 0.3; done
port=8888
check "docker-compose up (the example, its header followed): Jupyter logs in with the secret" login
out=$(cd "$comp" && docker-compose -p sie2e -f examples/docker-compose.yml exec -T jupyter sh -c 'grep -E "^(Uid|CapEff|NoNewPrivs):" /proc/1/task/*/status | head -3; ps -o user=,comm= -p 1; cat /proc/$(pgrep -f jupyter-server | head -1)/status | grep -E "^(Uid|CapEff|NoNewPrivs|Seccomp):"' 2>&1 || true)
composed() { contains "$out" "Uid:	1001" && contains "$out" "CapEff:	0000000000000000" && contains "$out" "NoNewPrivs:	1"; }
check "docker-compose: the server runs as 1001 with no capabilities" composed
(cd "$comp" && docker-compose -p sie2e -f examples/docker-compose.yml down -v >/dev/null 2>&1) || true
rm -rf "$comp"

# 12. one training job across two containers on an internal network: `torchrun --nnodes 2
#     --nproc-per-node 2` (gloo on the CPU, c10d rendezvous) under the default hardening in
#     each; the host's PyTorch venv bind-mounted read-only (same Debian, same Python)
TORCH=${SI_TORCH_VENV:-/opt/secure-init-test/torch-venv}
net=sie2e-ddp
ddp_start() { # NAME, then ddp.py's arguments
    local name=$1
    shift
    $D rm -f "$name" >/dev/null 2>&1 || true
    $D run -d --label secure-init-e2e --name "$name" --hostname "$name" --network "$net" \
        -v "$TORCH:$TORCH:ro" -v "$PWD/examples/ddp.py:/work/ddp.py:ro" "$IMG" \
        "$TORCH/bin/torchrun" --nnodes 2 --nproc-per-node 2 --rdzv-backend c10d \
        --rdzv-endpoint sie2e-ddp0:29400 --rdzv-id e2e --max-restarts 0 /work/ddp.py "$@" >/dev/null
}
ddp_wait() { timeout "$1" $D wait "$2" 2>/dev/null || echo timeout; }
if [ -x "$TORCH/bin/torchrun" ]; then
    $D network rm "$net" >/dev/null 2>&1 || true
    $D network create --internal "$net" >/dev/null
    ddp_start sie2e-ddp0
    ddp_start sie2e-ddp1
    code0=$(ddp_wait 300 sie2e-ddp0)
    code1=$(ddp_wait 60 sie2e-ddp1)
    logs=$($D logs sie2e-ddp0 2>&1; $D logs sie2e-ddp1 2>&1)
    ref=$("$TORCH/bin/python" examples/ddp.py --reference 2>&1)
    same() {
        python3 - "$ref" "$logs" <<'PY'
import sys
ref = [l for l in sys.argv[1].splitlines() if l.startswith("PARAMS ")]
got = [l for l in sys.argv[2].splitlines() if l.startswith("PARAMS ")]
if len(ref) != 1 or len(got) != 1:
    sys.exit(f"  one PARAMS line each expected: {ref} {got}")
a, b = ([float(x) for x in l.split()[1:]] for l in (ref[0], got[0]))
if len(a) != len(b) or max(abs(x - y) for x, y in zip(a, b)) > 1e-5:
    sys.exit(f"  DDP {b} != reference {a}")
PY
    }
    ddp_ok() {
        [ "$code0" = 0 ] && [ "$code1" = 0 ] && contains "$logs" "WORLD 4" && same &&
            [ "$(grep -c '"event":"child.exit"' <<<"$logs")" = 2 ] &&
            [ "$(grep -c '"event":"landlock.install"' <<<"$logs")" = 2 ]
    }
    check "DDP across two containers (torchrun 2x2, gloo, c10d) equals a one-process reference (exit $code0/$code1)" ddp_ok

    # a rank stopped by `docker stop`: its job ends on both sides, each with its own status
    # (torchrun exits 1 on the forwarded SIGTERM; the other side's workers lose their peer)
    ddp_start sie2e-ddp0 --steps 100000 --pause 0.05
    ddp_start sie2e-ddp1 --steps 100000 --pause 0.05
    for _ in $(seq 240); do
        $D logs sie2e-ddp0 2>&1 | grep -q "STEP 5" && break
        $D logs sie2e-ddp1 2>&1 | grep -q "STEP 5" && break
        sleep 0.5
    done
    t0=$(date +%s)
    $D stop -t 20 sie2e-ddp1 >/dev/null
    code1=$(ddp_wait 30 sie2e-ddp1)
    code0=$(ddp_wait 60 sie2e-ddp0)
    took=$(($(date +%s) - t0))
    logs0=$($D logs sie2e-ddp0 2>&1)
    logs1=$($D logs sie2e-ddp1 2>&1)
    echo "  (stopped rank: exit $code1; the other: exit $code0; ${took} s)"
    ddp_stop() {
        [ "$code1" != timeout ] && [ "$code0" != timeout ] && [ "$code0" != 0 ] &&
            contains "$logs1" '"event":"child.exit"' && contains "$logs0" '"event":"child.exit"' &&
            contains "$logs1" '"event":"child.stop"' && contains "$logs1" '"sent":"SIGTERM"'
    }
    check "docker stop of one rank ends the job on both sides, each with child.exit (exit $code1/$code0 in ${took} s)" ddp_stop
    $D rm -f sie2e-ddp0 sie2e-ddp1 >/dev/null 2>&1 || true
    $D network rm "$net" >/dev/null 2>&1 || true
else
    fail=$((fail + 1))
    echo "FAIL DDP across two containers: no PyTorch venv at $TORCH (scripts/test.sh makes it; SI_TORCH_VENV)"
fi

echo
echo "docker-e2e: $pass passed, $fail failed in $(($(date +%s) - started)) s"
[ "$fail" = 0 ]
