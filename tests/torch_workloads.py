"""Real PyTorch workloads (the CPU wheel), run as the hardened workload by
tests/torch_workloads.rs: `python torch_workloads.py SCENARIO`. Each prints `SCENARIO-OK` (and
what it measured) when the work was done and its result is right.

Scenarios: ddp_spawn (mp.spawn, gloo, fixed MASTER_PORT, a checkpoint on $CKPT_DIR),
torchrun_worker (run by torchrun), dataloader (fork and spawn workers), compile
(torch.compile with inductor: C++ compiled by g++ in subprocesses), share (tensors passed
between processes, both sharing strategies), profiler (torch.profiler, CPU).
"""

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _ddp_rank(rank, world, ckpt_dir):
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        x = torch.full((8, 4), float(rank + 1))
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    assert t.item() == world * (world + 1) / 2, t
    # DDP keeps the replicas equal: every rank holds rank 0's weights
    w = model.module.weight.detach().clone()
    ws = [torch.zeros_like(w) for _ in range(world)]
    dist.all_gather(ws, w)
    assert all(torch.equal(ws[0], x) for x in ws)
    if rank == 0:
        path = os.path.join(ckpt_dir, "model.pt")
        torch.save(model.module.state_dict(), path)
        back = torch.load(path, weights_only=True)
        assert torch.equal(back["weight"], model.module.weight)
    dist.barrier()
    dist.destroy_process_group()


def ddp_spawn():
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    mp.spawn(_ddp_rank, args=(2, os.environ["CKPT_DIR"]), nprocs=2, join=True)
    print("checkpoint", os.path.getsize(os.path.join(os.environ["CKPT_DIR"], "model.pt")))


def ddp_inscript():
    """The port set inside the script, as the PyTorch DDP tutorial does: nothing outside
    the process names it. And a thread named through /proc, as CUDA's driver does."""
    import threading

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("INSCRIPT_PORT", "29517"),
                      RANK="0", WORLD_SIZE="1")
    dist.init_process_group("gloo")
    t = torch.tensor([3.0])
    dist.all_reduce(t)
    assert t.item() == 3.0
    dist.destroy_process_group()
    done = []
    th = threading.Thread(target=lambda: done.append(
        open(f"/proc/self/task/{threading.get_native_id()}/comm", "w").write("worker")))
    th.start()
    th.join()
    assert done == [6], done


def torchrun_worker():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    assert t.item() == world * (world + 1) / 2, t
    dist.destroy_process_group()
    if rank != 0:
        sys.exit(0)


class _Squares(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        # a worker names its threads and reads its info, as real loaders do
        assert torch.utils.data.get_worker_info() is not None
        return torch.tensor([float(i * i)])


def dataloader():
    for ctx in ("fork", "spawn", "forkserver"):
        dl = torch.utils.data.DataLoader(
            _Squares(), batch_size=8, num_workers=2, multiprocessing_context=ctx,
            persistent_workers=False,
        )
        total = sum(b.sum().item() for b in dl)
        assert total == sum(i * i for i in range(64)), (ctx, total)
        print("dataloader", ctx, total)


def compile():
    def f(x, y):
        return torch.sin(x) * torch.cos(y) + x * y

    g = torch.compile(f, backend="inductor")
    x, y = torch.randn(1000), torch.randn(1000)
    assert torch.allclose(g(x, y), f(x, y), atol=1e-5)
    print("compiled with", os.environ.get("CXX", "the default C++ compiler"))


def _producer(q, strategy):
    mp.set_sharing_strategy(strategy)
    t = torch.arange(16, dtype=torch.float32).share_memory_()
    q.put(t)
    q.get()  # wait until the consumer has changed it


def share():
    for strategy in ("file_descriptor", "file_system"):
        mp.set_sharing_strategy(strategy)
        ctx = mp.get_context("spawn")
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_producer, args=(q, strategy))
        p.start()
        t = q.get()
        assert t.sum().item() == 120.0
        t.add_(1)  # shared memory: the producer's tensor changes too
        q.put("done")
        p.join(60)
        assert p.exitcode == 0, p.exitcode
        print("share", strategy)


def profiler():
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        a = torch.randn(256, 256)
        for _ in range(5):
            a = a @ a
            a = a / a.norm()
    names = {e.key for e in prof.key_averages()}
    assert "aten::matmul" in names or "aten::mm" in names, names
    trace = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"trace-{os.getpid()}.json")
    prof.export_chrome_trace(trace)
    os.unlink(trace)
    print("profiled", len(names), "ops")


if __name__ == "__main__":
    name = sys.argv[1]
    globals()[name]()
    print(f"{name}-OK", flush=True)
