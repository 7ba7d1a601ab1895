#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and PyTorch (run as root from the repo root):
# builds secure-init, then runs, as uid 1001 under the `pytorch` seccomp profile, a Python
# command that uses CUDA. Prints secure-init's gpu.driver event and the workload's output.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
PY=${PYTHON:-python3}
# The workload user must be able to reach the interpreter and its packages.
"$PY" -c 'import torch' || { echo "gpu-check: $PY cannot import torch" >&2; exit 1; }
target/release/secure-init --gpu require --log-format json -- "$PY" -c '
import torch, os
print("uid", os.getuid(), "cuda available", torch.cuda.is_available())
print("device", torch.cuda.get_device_name(0))
a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
b = a @ a
torch.cuda.synchronize()
print("matmul ok", tuple(b.shape), float(b.float().abs().mean()))
print("status", open("/proc/self/status").read().split("NoNewPrivs")[1].split()[0:3])
' 2> >(grep -E "gpu\.|fatal|seccomp" >&2)
