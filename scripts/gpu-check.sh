#!/usr/bin/env bash
# The prepared check for a machine with an NVIDIA GPU and PyTorch (CUDA build), as root from
# the repository root, in under 5 minutes: each CUDA workload below, under each posture
# (default hardening, --landlock require, both built-in seccomp profiles, and the control
# without Landlock or seccomp), as uid 1001. Prints one table (also written to
# $GPU_CHECK_OUT, default target/gpu-check.md) and exits 1 if any hardened cell fails
# where the control passes.
#
#   PYTHON=/path/to/python scripts/gpu-check.sh
#
# The workload user (uid 1001) must be able to read the interpreter and its packages.
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "gpu-check: run as root (the checks drop to uid 1001)" >&2; exit 1; }
PY=${PYTHON:-python3}
OUTFILE=${GPU_CHECK_OUT:-target/gpu-check.md}
if [ ! -x target/release/secure-init ]; then
    cargo build --release -q || exit 1
fi
SI=$(pwd)/target/release/secure-init
work=$(mktemp -d /tmp/gpu-check.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
setpriv --reuid 1001 --regid 1001 --clear-groups "$PY" -c 'import torch' 2>/dev/null \
    || { echo "gpu-check: uid 1001 cannot import torch with $PY (set PYTHON to an interpreter it can read)" >&2; exit 1; }
NGPU=$("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
[ "$NGPU" -ge 1 ] || { echo "gpu-check: torch sees no GPU as root" >&2; exit 1; }

cat > "$work/checks.py" <<'PY'
import os, sys, torch

def cuda_matmul():
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = a @ a
    torch.cuda.synchronize()
    assert torch.isfinite(b.float()).all()

class DS(torch.utils.data.Dataset):
    def __len__(self): return 8
    def __getitem__(self, i):
        # a worker that touches CUDA (spawned: CUDA cannot be re-initialised after fork)
        return (torch.ones(4, device="cuda") * i).sum().cpu()

def dataloader_cuda():
    dl = torch.utils.data.DataLoader(DS(), batch_size=4, num_workers=2, multiprocessing_context="spawn")
    assert sum(b.sum().item() for b in dl) == 4 * sum(range(8))

def _produce(q, done):
    t = torch.arange(1024, device="cuda", dtype=torch.float32)
    q.put(t)
    done.wait()

def mp_cuda_share():
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    q, done = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=_produce, args=(q, done))
    p.start()
    t = q.get(timeout=120)
    assert t.sum().item() == sum(range(1024))
    del t
    done.set()
    p.join(120)
    assert p.exitcode == 0, p.exitcode

def nccl_rank():
    import torch.distributed as dist
    dist.init_process_group("nccl")
    r = dist.get_rank()
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    t = torch.ones(1 << 20, device="cuda") * (r + 1)
    dist.all_reduce(t)
    w = dist.get_world_size()
    assert t[0].item() == w * (w + 1) / 2
    dist.destroy_process_group()

if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("CHECK-OK", sys.argv[1], flush=True)
PY
chmod 644 "$work/checks.py"
TORCHRUN="$(dirname "$(command -v "$PY")")/torchrun"

declare -A CMD=(
    [cuda_matmul]="$PY $work/checks.py cuda_matmul"
    [dataloader_cuda]="$PY $work/checks.py dataloader_cuda"
    [mp_cuda_share]="$PY $work/checks.py mp_cuda_share"
    [nccl_allreduce]="$TORCHRUN --standalone --nproc-per-node $NGPU $work/checks.py nccl_rank"
    [nvml_mig]="nvidia-smi --query-gpu=index,name,driver_version,mig.mode.current --format=csv,noheader"
)
CHECKS=(cuda_matmul dataloader_cuda mp_cuda_share nccl_allreduce nvml_mig)
declare -A POSTURE=(
    [default]=""
    [require]="--landlock require"
    [docker-default]="--seccomp docker-default"
    [control]="--landlock off --seccomp unconfined"
)
POSTURES=(default require docker-default control)

declare -A RES
fail=0
for c in "${CHECKS[@]}"; do
    for p in "${POSTURES[@]}"; do
        log="$work/$c-$p.log"
        # shellcheck disable=SC2086
        (cd /tmp && timeout 120 "$SI" --gpu require --log-format json ${POSTURE[$p]} -- ${CMD[$c]}) >"$log" 2>&1
        rc=$?
        if [ $rc = 0 ] && { [ "$c" = nvml_mig ] || grep -q CHECK-OK "$log"; }; then
            RES[$c,$p]=pass
        else
            why=$(grep -ohE '"event":"seccomp.denied"[^}]*"syscall":"[a-z0-9_]+"' "$log" | grep -oE '"syscall":"[a-z0-9_]+"' | sort -u | tr '\n' ' ')
            RES[$c,$p]="FAIL rc=$rc ${why}"
            cp "$log" "/tmp/gpu-check-$c-$p.log"
        fi
    done
done
{
    echo "GPU check: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n1), $NGPU GPU(s), torch $("$PY" -c 'import torch; print(torch.__version__, torch.version.cuda)'), $(date -u +%FT%TZ)"
    echo
    printf '| check |'; for p in "${POSTURES[@]}"; do printf ' %s |' "$p"; done; echo
    printf '| --- |'; for _ in "${POSTURES[@]}"; do printf ' --- |'; done; echo
    for c in "${CHECKS[@]}"; do
        printf '| %s |' "$c"
        for p in "${POSTURES[@]}"; do
            printf ' %s |' "${RES[$c,$p]}"
            if [ "$p" != control ] && [ "${RES[$c,$p]}" != pass ] && [ "${RES[$c,control]}" = pass ]; then fail=1; fi
        done
        echo
    done
    echo
    echo "gpu.driver: $(grep -ohE '"event":"gpu.driver".*' "$work/cuda_matmul-default.log" | head -n1 | cut -c1-400)"
} | tee "$OUTFILE"
[ $fail = 0 ] || echo "gpu-check: a hardened posture fails where the control passes (logs in /tmp/gpu-check-*.log)" >&2
exit $fail
