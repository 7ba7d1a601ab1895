# A hardened PyTorch-CUDA + JupyterLab image: secure-init is PID 1, drops root to uid 1001,
# removes every capability, sets no_new_privs and installs the pytorch seccomp profile.
#
#   docker build -t pytorch-secure .
#   docker run --gpus all -p 127.0.0.1:8888:8888 --shm-size=8g \
#     -v "$PWD/jupyter_password.txt:/run/secrets/jupyter_password:ro" pytorch-secure
#
# With SSH beside Jupyter (key-only, as uid 1001; keys from a root-only secret file):
#   docker build --build-arg SSHD=1 -t pytorch-secure-ssh .
#   docker run ... -p 127.0.0.1:2222:2222 -e SECURE_INIT_SSHD=1 \
#     -v "$PWD/ssh_authorized_keys:/run/secrets/ssh_authorized_keys:ro" pytorch-secure-ssh
#
# The builder uses the same base image as the runtime, so the binary links against the same
# glibc it runs with (it is dynamically linked: NVML is dlopen'ed from the host driver).
ARG BASE_IMAGE=pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime

FROM ${BASE_IMAGE} AS builder
# Fail a pipeline when any command in it fails (the rustup download below).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG RUST_VERSION=1.95.0
# Compiler and TLS roots for the build only; nothing of this stage reaches the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
    | sh -s -- -y --profile minimal --default-toolchain "${RUST_VERSION}"
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY profiles ./profiles
RUN /root/.cargo/bin/cargo build --release --locked --bin secure-init

FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG JUPYTERLAB_VERSION=4.4.10
# JupyterLab pinned; no pip cache left in the image.
RUN pip install --no-cache-dir "jupyterlab==${JUPYTERLAB_VERSION}"
# Optional SSH (docker build --build-arg SSHD=1): OpenSSH's server, which secure-init runs
# as the workload user with --sshd (key-only, port 2222, keys from the secret
# /run/secrets/ssh_authorized_keys). The package's own host keys are removed: secure-init
# makes a new one at every start, so no private key is baked into the image.
ARG SSHD=0
RUN if [ "${SSHD}" = 1 ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends openssh-server \
        && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*; \
    fi
# The workload user: uid 1001 in group video, the usual owner of /dev/nvidia* and /dev/dri.
# secure-init drops to it (--user default 1001) and adds the GPU device groups it finds.
RUN (getent group video || groupadd --system video) \
    && useradd --uid 1001 --gid video --create-home --shell /bin/bash aiuser \
    && mkdir -p /home/aiuser/work \
    && chown -R 1001:video /home/aiuser
# Strip setuid/setgid bits: with no_new_privs they are inert anyway, but an image without
# them stays safe when someone runs it without secure-init.
RUN find / -xdev -type f -perm /6000 -exec chmod a-s {} + 2>/dev/null || true
COPY --from=builder /src/target/release/secure-init /usr/local/bin/secure-init
# The example trainers, outside HOME: a volume mounted over /home/aiuser (a Kubernetes
# emptyDir, a PersistentVolumeClaim) starts empty, and the Jobs in examples/k8s run these.
COPY examples/train.py examples/ddp.py /opt/app/
WORKDIR /home/aiuser/work
# The notebook root; the password comes from the secret /run/secrets/jupyter_password
# (never from ENV or ARG), and secure-init refuses to start Jupyter without one.
ENV SECURE_INIT_JUPYTER_ROOT_DIR=/home/aiuser/work
# Jupyter; 2222 is sshd's port when the image is built with SSHD=1 and run with --sshd.
EXPOSE 8888 2222
# Search paths stay as the base image sets them: absolute, root-owned entries (no trailing
# ':' — secure-init refuses empty, relative or workload-writable PATH/LD_LIBRARY_PATH/
# LD_PRELOAD/PYTHONPATH entries). The health check runs as root in this workload-writable
# WORKDIR: secure-init finds its own libraries in the system directories before
# LD_LIBRARY_PATH (DT_RPATH), so nothing planted here is loaded.
# The health check follows what secure-init started (its state file): Jupyter's
# unauthenticated /api answers 200 when the server is up (on whatever port it was given);
# a training command is healthy while it runs. No curl or Python needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/secure-init", "healthcheck"]
# No USER line: the container starts as root so secure-init can drop privileges for good,
# verified, before the workload runs. Started with a non-root --user it verifies instead.
ENTRYPOINT ["/usr/local/bin/secure-init", "--"]
CMD ["jupyter", "lab", "--no-browser"]
