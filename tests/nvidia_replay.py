"""Replays, without a GPU, what the NVIDIA user-space stack and PyTorch do to the OS when a
job starts and trains (docs/src/pytorch.md lists each step with its source). Run as
the hardened workload by tests/nvidia_stack.rs, in a private mount namespace where /dev holds
fake NVIDIA and InfiniBand character devices (no driver behind them: an open that the
sandbox lets through answers ENXIO; EACCES/EPERM means the sandbox refused it) and
/proc/driver/nvidia holds a fake driver's files.

Prints one `name=RESULT` line per step: `ok` or the errno's name. `--worker NAME` runs the
per-process steps again (a DataLoader worker, a torchrun rank, a program a job starts),
prefixed with NAME.
"""

import ctypes
import errno
import os
import platform
import socket
import sys
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# (x86_64, aarch64)
NR = {
    "memfd_create": (319, 279),
    "mbind": (237, 235),
    "set_mempolicy": (238, 237),
    "get_mempolicy": (239, 236),
    "pidfd_open": (434, 434),
    "pidfd_getfd": (438, 438),
    "perf_event_open": (298, 241),
    "process_vm_readv": (310, 270),
    "clone3": (435, 435),
    "io_uring_setup": (425, 425),
    "userfaultfd": (323, 282),
}
ARCH = 0 if platform.machine() == "x86_64" else 1


def syscall(name, *args):
    r = libc.syscall(ctypes.c_long(NR[name][ARCH]), *args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def result(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def report(prefix, name, f):
    print(f"{prefix}{name}={result(f)}", flush=True)


def open_close(path, flags):
    os.close(os.open(path, flags | os.O_CLOEXEC))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def name_thread_like_the_driver():
    """cuInit (driver 570+) names its threads by writing /proc/<tgid>/task/<tid>/comm."""
    out = {}

    def run():
        tid = threading.get_native_id()
        out["r"] = result(lambda: write(f"/proc/{os.getpid()}/task/{tid}/comm", "cuda-EvtHandlr"))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if out["r"] != "ok":
        raise OSError(getattr(errno, out["r"], errno.EIO), out["r"])


def pthread_setname_other_thread():
    """glibc's pthread_setname_np on another thread writes /proc/self/task/<tid>/comm
    (PyTorch names its threads, e.g. the pin-memory thread, through it)."""
    started = threading.Event()
    stop = threading.Event()
    handle = {}

    def run():
        handle["t"] = libc.pthread_self()
        started.set()
        stop.wait()

    libc.pthread_self.restype = ctypes.c_ulong
    libc.pthread_setname_np.argtypes = [ctypes.c_ulong, ctypes.c_char_p]
    t = threading.Thread(target=run)
    t.start()
    started.wait()
    rc = libc.pthread_setname_np(handle["t"], b"pt_autograd_0")
    stop.set()
    t.join()
    if rc != 0:
        raise OSError(rc, os.strerror(rc))


def raise_oom_score_adj():
    cur = int(open("/proc/self/oom_score_adj").read())
    write("/proc/self/oom_score_adj", str(min(cur + 100, 1000)))


def per_process(prefix):
    """What every process of the job does: the driver's device opens and thread names."""
    report(prefix, "nvidiactl", lambda: open_close("/dev/nvidiactl", os.O_RDWR))
    report(prefix, "nvidia0", lambda: open_close("/dev/nvidia0", os.O_RDWR))
    report(prefix, "nvidia_uvm", lambda: open_close("/dev/nvidia-uvm", os.O_RDWR))
    report(prefix, "thread_comm", name_thread_like_the_driver)
    report(prefix, "pthread_setname", pthread_setname_other_thread)
    report(prefix, "self_comm", lambda: write("/proc/self/comm", "python-worker"))
    report(prefix, "oom_score_adj", raise_oom_score_adj)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        per_process(sys.argv[2] + "_")
        return
    p = ""
    print("groups=" + ",".join(str(g) for g in os.getgroups()), flush=True)
    # -- the driver's start (cuInit, NVML) --
    per_process(p)
    report(p, "nvidia_uvm_tools", lambda: open_close("/dev/nvidia-uvm-tools", os.O_RDWR))
    report(p, "nvidia_modeset", lambda: open_close("/dev/nvidia-modeset", os.O_RDWR))
    report(p, "nvidia_cap_mig", lambda: open_close("/dev/nvidia-caps/nvidia-cap1", os.O_RDONLY))
    report(p, "driver_version", lambda: open("/proc/driver/nvidia/version").read())
    report(p, "driver_params", lambda: open("/proc/driver/nvidia/params").read())
    report(p, "mig_config", lambda: open("/proc/driver/nvidia/capabilities/mig/config").read())
    report(p, "sys_pci", lambda: os.listdir("/sys/bus/pci/devices"))
    report(p, "memfd_create", lambda: os.close(syscall("memfd_create", b"cuda", 1)))
    report(p, "coredump_filter", lambda: write("/proc/self/coredump_filter", open("/proc/self/coredump_filter").read().strip()))
    report(p, "clear_refs", lambda: write("/proc/self/clear_refs", "1"))
    # -- memory: pinned host memory, NUMA binding (DataLoader pinning, NCCL) --
    page = ctypes.create_string_buffer(4096)

    def mlock():
        if libc.mlock(page, ctypes.c_size_t(4096)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        libc.munlock(page, ctypes.c_size_t(4096))

    report(p, "mlock", mlock)
    report(p, "get_mempolicy", lambda: syscall("get_mempolicy", None, None, ctypes.c_ulong(0), None, ctypes.c_ulong(0)))
    report(p, "set_mempolicy", lambda: syscall("set_mempolicy", 0, None, ctypes.c_ulong(0)))
    import mmap

    m = mmap.mmap(-1, 4096)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    report(p, "mbind", lambda: syscall("mbind", ctypes.c_void_p(addr), ctypes.c_ulong(4096), 0, None, ctypes.c_ulong(0), 0))
    report(p, "sched_setaffinity", lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)))
    # -- shared memory: DataLoader's and torch.multiprocessing's /dev/shm segments --
    def shm():
        path = f"/dev/shm/torch_{os.getpid()}_replay"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(fd, 4096)
        mm = mmap.mmap(fd, 4096)
        mm[:4] = b"data"
        mm.close()
        os.close(fd)
        os.unlink(path)

    report(p, "dev_shm", shm)
    # -- NCCL's bootstrap: abstract AF_UNIX between the job's processes; TCP --
    def abstract_unix():
        name = f"\0nccl-replay-{os.getpid()}".encode()
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(name)
        srv.listen(1)
        pid = os.fork()
        if pid == 0:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                c.connect(name)
                c.sendall(b"x")
                os._exit(0)
            except OSError:
                os._exit(1)
        conn, _ = srv.accept()
        conn.recv(1)
        _, st = os.waitpid(pid, 0)
        if st != 0:
            raise OSError(errno.EACCES, "connect")

    report(p, "abstract_unix", abstract_unix)

    def bind(port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        finally:
            s.close()

    report(p, "tcp_bind_ephemeral", lambda: bind(0))
    report(p, "tcp_bind_master_port", lambda: bind(int(os.environ["MASTER_PORT"])))
    report(p, "tcp_bind_other", lambda: bind(6006))
    # -- another process of the job: pidfd (expandable segments' IPC) --
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    pidfd = {}
    report(p, "pidfd_open", lambda: pidfd.setdefault("fd", syscall("pidfd_open", child, 0)))
    report(p, "pidfd_getfd", lambda: os.close(syscall("pidfd_getfd", pidfd.get("fd", -1), 0, 0)))
    # the kernel lets a process name only its own threads (EINVAL otherwise); a sibling's
    # oom_score_adj is the workload's own business (same uid: DAC allows raising it)
    report(p, "sibling_comm", lambda: write(f"/proc/{child}/comm", "sibling"))
    report(p, "sibling_oom_score_adj", lambda: write(f"/proc/{child}/oom_score_adj", "900"))
    os.write(w, b"x")
    os.waitpid(child, 0)

    # -- calls the profiles refuse on purpose (the README says why) --
    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    src, dst = ctypes.create_string_buffer(8), ctypes.create_string_buffer(8)
    local, remote = Iov(ctypes.addressof(dst), 8), Iov(ctypes.addressof(src), 8)
    report(p, "process_vm_readv", lambda: syscall("process_vm_readv", os.getpid(), ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0)))
    attr = ctypes.create_string_buffer(128)
    report(p, "perf_event_open", lambda: syscall("perf_event_open", attr, 0, -1, -1, ctypes.c_ulong(0)))
    report(p, "userfaultfd", lambda: os.close(syscall("userfaultfd", 0)))
    report(p, "clone3", lambda: syscall("clone3", None, ctypes.c_ulong(0)))
    report(p, "io_uring_setup", lambda: syscall("io_uring_setup", 1, None))
    # -- what the procfs rule must not open --
    outside = os.environ["REPLAY_OUTSIDE"]
    report(p, "write_outside", lambda: write(f"{outside}/x", "x"))
    report(p, "write_via_proc_root", lambda: write(f"/proc/self/root{outside}/x", "x"))
    # (the workload's working directory is /: /proc/self/cwd leads to the same place)
    report(p, "write_via_proc_cwd", lambda: write(f"/proc/self/cwd{outside}/x", "x"))
    ro = os.open(os.environ["REPLAY_OUTSIDE_FILE"], os.O_RDONLY)
    report(p, "write_via_proc_fd", lambda: write(f"/proc/self/fd/{ro}", "x"))
    os.close(ro)
    report(p, "supervisor_comm", lambda: write(f"/proc/{os.getppid()}/comm", "owned"))
    report(p, "supervisor_oom", lambda: write(f"/proc/{os.getppid()}/oom_score_adj", "1000"))
    report(p, "proc_sys", lambda: write("/proc/sys/kernel/core_pattern", "|/tmp/x"))
    report(p, "supervisor_mem", lambda: write(f"/proc/{os.getppid()}/mem", "x"))

    # -- the same per-process steps in a forked worker (DataLoader, fork start method) and
    #    in a program the job starts (spawn, torchrun's ranks) --
    pid = os.fork()
    if pid == 0:
        per_process("fork_")
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    sys.stdout.flush()
    os.spawnv(os.P_WAIT, sys.executable, [sys.executable, __file__, "--worker", "exec"])


if __name__ == "__main__":
    main()
