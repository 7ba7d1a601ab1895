#!/usr/bin/env python3
"""A tiny training loop for the secure-init demo.

Uses PyTorch on the GPU when there is one, PyTorch on the CPU otherwise, and a pure-Python
fallback when PyTorch is not installed (as in secure-init's CI). On SIGTERM (docker stop,
a Kubernetes eviction, secure-init forwarding it) it saves a checkpoint and exits with
128 + SIGTERM = 143, the status the signal would have given.

    secure-init -- python3 examples/train.py [--steps N] [--checkpoint PATH]
"""
import argparse, json, os, random, signal, sys, time

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=200)
p.add_argument("--checkpoint", default=os.path.join(os.environ.get("HOME", "/tmp"), "checkpoint"))
p.add_argument("--step-seconds", type=float, default=0.0, help="sleep per step (demo of SIGTERM)")
args = p.parse_args()

stop = {"signal": None}


def on_term(sig, _frame):
    stop["signal"] = sig


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

try:
    import torch
except ImportError:
    torch = None

# y = 3x + 2 with noise: learn w, b
random.seed(0)
data = [(x / 100, 3 * x / 100 + 2 + random.gauss(0, 0.01)) for x in range(100)]

if torch is not None:
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
    print(f"train.py: torch {torch.__version__} on {name}", flush=True)
    xs = torch.tensor([d[0] for d in data], device=dev).unsqueeze(1)
    ys = torch.tensor([d[1] for d in data], device=dev).unsqueeze(1)
    model = torch.nn.Linear(1, 1).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xs), ys)
        loss.backward()
        opt.step()
        return loss.item()

    def save(path, n):
        torch.save({"step": n, "model": model.state_dict()}, path + ".pt")
        return path + ".pt"
else:
    print("train.py: torch not installed: pure-Python fallback on the CPU", flush=True)
    w, b = 0.0, 0.0

    def step():
        global w, b
        gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
        gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
        w -= 0.5 * gw
        b -= 0.5 * gb
        return sum((w * x + b - y) ** 2 for x, y in data) / len(data)

    def save(path, n):
        with open(path + ".json", "w") as f:
            json.dump({"step": n, "w": w, "b": b}, f)
        return path + ".json"

loss = None
for n in range(1, args.steps + 1):
    loss = step()
    if args.step_seconds:
        time.sleep(args.step_seconds)
    if stop["signal"] is not None:
        path = save(args.checkpoint, n)
        print(f"train.py: signal {stop['signal']} at step {n}: checkpoint saved to {path}", flush=True)
        sys.exit(128 + stop["signal"])
path = save(args.checkpoint, args.steps)
print(f"train.py: done, loss {loss:.5f}, checkpoint {path}", flush=True)
