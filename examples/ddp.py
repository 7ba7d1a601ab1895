"""A small DDP job across nodes, for examples/k8s/train-multinode.yaml and the Docker suite
(scripts/docker-e2e.sh): gloo on the CPU, a few SGD steps of a small model, each rank on its
shard of one fixed dataset; rank 0 prints the final parameters. `--reference` trains the
same model in one process on the whole dataset: with equal shards the gradients DDP
averages are that run's, so the parameters must match. `--steps N --pause S` makes a long
job (the stop scenario). Start it with torchrun."""
import argparse
import time

import torch
import torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--reference", action="store_true")
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--pause", type=float, default=0.0)
a = ap.parse_args()


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(32, 16, generator=g), torch.randn(32, 1, generator=g)


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))


def train(m, x, y, steps, pause, log=None):
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    for step in range(steps):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if log:
            log(step, loss.item())
        time.sleep(pause)
    return m


def params(m):
    mod = m.module if hasattr(m, "module") else m
    return " ".join(f"{p.detach().double().sum().item():.8f}" for p in mod.parameters())


if a.reference:
    x, y = data()
    print("PARAMS", params(train(model(), x, y, a.steps, 0.0)), flush=True)
    raise SystemExit

import torch.distributed as dist  # noqa: E402

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
x, y = data()
m = nn.parallel.DistributedDataParallel(model())
train(m, x.chunk(world)[rank], y.chunk(world)[rank], a.steps, a.pause,
      (lambda s, l: print(f"STEP {s} loss {l:.5f}", flush=True)) if rank == 0 else None)
if rank == 0:
    print("WORLD", world, flush=True)
    print("PARAMS", params(m), flush=True)
dist.barrier()
dist.destroy_process_group()
