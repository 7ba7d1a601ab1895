//! The TCP port a distributed PyTorch job listens on for its rendezvous, read from the
//! command and the environment the command gets (pure), so that Landlock lets the job bind
//! it without the operator knowing Landlock exists.
//!
//! Rank 0 of a `torch.distributed` job (or torchrun's agent on the first node) serves the
//! c10d `TCPStore` on a fixed port everyone else connects to. Where that port comes from:
//!
//! | source | port |
//! | --- | --- |
//! | `MASTER_PORT` (the `env://` init method: `mp.spawn` scripts, Lightning, Kubeflow's PyTorchJob) | its value |
//! | `PET_MASTER_PORT`, `PET_RDZV_ENDPOINT` (torchrun reads every option from `PET_<NAME>`; Kubeflow sets them) | as the options below |
//! | `torchrun` / `python -m torch.distributed.run` / `python -m torch.distributed.launch`: `--master-port`/`--master_port` | its value; 29500 when not given, with the default (static) rendezvous |
//! | the same: `--rdzv-endpoint`/`--rdzv_endpoint HOST[:PORT]` with `--rdzv-backend c10d` | PORT; 29400 when none is given |
//! | `--standalone` | none: torchrun picks a free port itself (bind to port 0, always allowed) |
//! | `deepspeed --master_port` / `accelerate launch --main_process_port` | its value; 29500 when not given |
//!
//! The ports the job's processes pick themselves (Gloo's and NCCL's own listeners, the
//! workers' stores) are ephemeral: Landlock always allows binding port 0. A port written
//! inside the script (`os.environ["MASTER_PORT"] = "12355"`, `init_method="tcp://…:23456"`)
//! cannot be seen from here: it needs `--net-bind`, which the start-up line names.

use std::ffi::{OsStr, OsString};

/// torchrun's default `--master-port` (static rendezvous) and its c10d rendezvous default.
const TORCHRUN_MASTER_PORT: u16 = 29500;
const C10D_RDZV_PORT: u16 = 29400;

/// What was found: each port with the reason, and the values that were not ports.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub ports: Vec<(u16, String)>,
    /// `NAME=VALUE is not a TCP port` lines (logged as warnings: nothing is opened for them).
    pub ignored: Vec<String>,
}

impl Found {
    fn add(&mut self, port: u16, why: String) {
        if !self.ports.iter().any(|(p, _)| *p == port) {
            self.ports.push((port, why));
        }
    }
    fn parse(&mut self, value: &str, why: &str) {
        match value.trim().parse::<u16>() {
            Ok(p) if p > 0 => self.add(p, why.to_string()),
            _ => self.ignored.push(format!(
                "{why}={value:?} is not a TCP port (1-65535): no port opened for it"
            )),
        }
    }
}

/// A launcher's options: where its port flag and its defaults are.
struct Launcher {
    name: &'static str,
    /// Option names that give the store's port.
    port_flags: &'static [&'static str],
    /// torchrun's rendezvous endpoint (HOST[:PORT]) options.
    endpoint_flags: &'static [&'static str],
    /// Options that take no value (everything else that starts with `-` takes one).
    switches: &'static [&'static str],
}

const TORCHRUN: Launcher = Launcher {
    name: "torchrun",
    port_flags: &["--master-port", "--master_port"],
    endpoint_flags: &["--rdzv-endpoint", "--rdzv_endpoint"],
    switches: &[
        "--standalone",
        "--no-python",
        "--no_python",
        "--run-path",
        "--run_path",
        "--module",
        "-m",
        "--use-env",
        "--use_env",
        "--virtual-local-rank",
        "--virtual_local_rank",
    ],
};
const DEEPSPEED: Launcher = Launcher {
    name: "deepspeed",
    port_flags: &["--master_port", "--master-port"],
    endpoint_flags: &[],
    switches: &[
        "--no_python",
        "--no_local_rank",
        "--module",
        "--force_multi",
        "--save_pid",
        "--enable_each_rank_log",
        "--autotuning",
        "--bind_cores_to_rank",
        "--no_ssh",
        "--no_ssh_check",
        "--elastic_training",
    ],
};
const ACCELERATE: Launcher = Launcher {
    name: "accelerate launch",
    port_flags: &["--main_process_port", "--main-process-port"],
    endpoint_flags: &[],
    switches: &[
        "--cpu",
        "--multi_gpu",
        "--multi-gpu",
        "--tpu",
        "--use_deepspeed",
        "--use_fsdp",
        "--use_megatron_lm",
        "--use_xpu",
        "-m",
        "--module",
        "--no_python",
        "--debug",
        "-q",
        "--quiet",
    ],
};

/// The launcher the command is, and its arguments after the launcher's own name.
fn launcher(command: &[OsString]) -> Option<(&'static Launcher, &[OsString])> {
    let base = |a: &OsStr| {
        std::path::Path::new(a)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let first = base(command.first()?);
    match first.as_str() {
        "torchrun" => return Some((&TORCHRUN, &command[1..])),
        "deepspeed" => return Some((&DEEPSPEED, &command[1..])),
        "accelerate" if command.get(1).is_some_and(|a| a == "launch") => {
            return Some((&ACCELERATE, &command[2..]))
        }
        _ => {}
    }
    // python [interpreter options] -m torch.distributed.run|launch ARGS
    if first.starts_with("python") {
        let mut i = 1;
        while let Some(a) = command.get(i).and_then(|a| a.to_str()) {
            if a == "-m" {
                return match command.get(i + 1).and_then(|m| m.to_str()) {
                    Some("torch.distributed.run" | "torch.distributed.launch") => {
                        Some((&TORCHRUN, &command[i + 2..]))
                    }
                    _ => None,
                };
            }
            // interpreter switches (-u, -O, -X opt, -W arg) come before -m
            if !a.starts_with('-') {
                return None;
            }
            i += if matches!(a, "-X" | "-W") { 2 } else { 1 };
        }
    }
    None
}

/// The launcher's options (up to its script or program): (name, value) pairs and switches.
fn options<'a>(l: &Launcher, args: &'a [OsString]) -> Vec<(&'a str, Option<&'a str>)> {
    let mut out = vec![];
    let mut i = 0;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        if a == "--" || !a.starts_with('-') {
            break; // the training script (or program) starts here
        }
        if let Some((name, value)) = a.split_once('=') {
            out.push((name, Some(value)));
            i += 1;
        } else if l.switches.contains(&a) {
            out.push((a, None));
            i += 1;
        } else {
            out.push((a, args.get(i + 1).and_then(|v| v.to_str())));
            i += 2;
        }
    }
    out
}

/// The rendezvous ports of `command` run with `env` (the command's own environment).
pub fn ports(command: &[OsString], env: &[(OsString, OsString)]) -> Found {
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
    };
    let mut found = Found::default();
    if let Some(v) = var("MASTER_PORT") {
        found.parse(&v, "MASTER_PORT");
    }
    let Some((l, args)) = launcher(command) else {
        return found;
    };
    let opts = options(l, args);
    let opt = |names: &[&str]| {
        opts.iter()
            .rev()
            .find(|(n, _)| names.contains(n))
            .map(|(n, v)| (n.to_string(), v.unwrap_or("").to_string()))
    };
    if l.name != "torchrun" {
        match opt(l.port_flags) {
            Some((n, v)) => found.parse(&v, &format!("{} {n}", l.name)),
            None => found.add(
                TORCHRUN_MASTER_PORT,
                format!("the default port of {}", l.name),
            ),
        }
        return found;
    }
    // torchrun: a command-line option wins over its PET_ variable
    let pet = |name: &str| var(name).map(|v| (name.to_string(), v));
    let standalone = opt(&["--standalone"]).is_some()
        || var("PET_STANDALONE").is_some_and(|v| !v.is_empty() && v != "0" && v != "False");
    if standalone {
        return found;
    }
    let backend = opt(&["--rdzv-backend", "--rdzv_backend"])
        .map(|(_, v)| v)
        .or_else(|| var("PET_RDZV_BACKEND"))
        .unwrap_or_else(|| "static".into());
    let endpoint = opt(l.endpoint_flags)
        .or_else(|| pet("PET_RDZV_ENDPOINT"))
        .filter(|(_, v)| !v.is_empty());
    match backend.as_str() {
        "c10d" => {
            let (from, ep) =
                endpoint.unwrap_or_else(|| ("torchrun's c10d default".into(), String::new()));
            match endpoint_port(&ep) {
                Some(p) => found.parse(p, &format!("torchrun {from}")),
                None => found.add(
                    C10D_RDZV_PORT,
                    format!("torchrun's c10d rendezvous ({from} names no port)"),
                ),
            }
        }
        "static" => match opt(l.port_flags).or_else(|| pet("PET_MASTER_PORT")) {
            Some((n, v)) => found.parse(&v, &format!("torchrun {n}")),
            None => found.add(
                TORCHRUN_MASTER_PORT,
                "torchrun's default --master-port".into(),
            ),
        },
        // etcd and other backends: the endpoint is a server the job connects to
        _ => {}
    }
    found
}

/// The port of `HOST:PORT` or `[V6]:PORT`; None for a bare host.
fn endpoint_port(ep: &str) -> Option<&str> {
    let rest = match ep.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.1,
        None if ep.matches(':').count() == 1 => &ep[ep.find(':')?..],
        None => return None,
    };
    rest.strip_prefix(':').filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }
    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }
    fn only_ports(c: &str, e: &[(&str, &str)]) -> Vec<u16> {
        ports(&cmd(c), &env(e))
            .ports
            .iter()
            .map(|(p, _)| *p)
            .collect()
    }

    #[test]
    fn each_source_of_the_rendezvous_port() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u16]);
        let cases: &[Case] = &[
            // an mp.spawn script reads MASTER_PORT
            ("python train.py", &[("MASTER_PORT", "29517")], &[29517]),
            ("python train.py", &[], &[]),
            (
                "python -m torch.distributed.run --nproc-per-node 2 t.py",
                &[],
                &[29500],
            ),
            ("torchrun --nproc-per-node=2 t.py", &[], &[29500]),
            (
                "torchrun --master-port 12355 --nnodes 2 t.py",
                &[],
                &[12355],
            ),
            (
                "torchrun --master_port=23456 t.py --master-port 9",
                &[],
                &[23456],
            ),
            ("torchrun --standalone --nproc-per-node 2 t.py", &[], &[]),
            (
                "torchrun --standalone t.py",
                &[("MASTER_PORT", "29511")],
                &[29511],
            ),
            (
                "torchrun --rdzv-backend c10d --rdzv-endpoint n0:29611 t.py",
                &[],
                &[29611],
            ),
            (
                "torchrun --rdzv_backend=c10d --rdzv_endpoint=n0 t.py",
                &[],
                &[29400],
            ),
            (
                "torchrun --rdzv-backend c10d --rdzv-endpoint [fd00::1]:29612 t.py",
                &[],
                &[29612],
            ),
            (
                "torchrun --rdzv-backend etcd --rdzv-endpoint etcd:2379 t.py",
                &[],
                &[],
            ),
            // Kubeflow: every torchrun option as PET_<NAME>
            ("torchrun t.py", &[("PET_MASTER_PORT", "23457")], &[23457]),
            (
                "torchrun t.py",
                &[
                    ("PET_RDZV_BACKEND", "c10d"),
                    ("PET_RDZV_ENDPOINT", "job-0:29613"),
                ],
                &[29613],
            ),
            (
                "torchrun --master-port 1111 t.py",
                &[("PET_MASTER_PORT", "2222")],
                &[1111],
            ),
            ("torchrun t.py", &[("PET_STANDALONE", "1")], &[]),
            (
                "/opt/venv/bin/python3 -u -m torch.distributed.launch --master_port 29999 t.py",
                &[],
                &[29999],
            ),
            ("python -m mypkg.run --master-port 1 x", &[], &[]),
            ("deepspeed --num_gpus 2 train.py", &[], &[29500]),
            ("deepspeed --master_port 29777 train.py", &[], &[29777]),
            (
                "accelerate launch --multi_gpu --main_process_port 29888 t.py",
                &[],
                &[29888],
            ),
            ("accelerate config", &[], &[]),
            // the same port from two sources is one rule
            (
                "torchrun --master-port 29500 t.py",
                &[("MASTER_PORT", "29500")],
                &[29500],
            ),
        ];
        for (c, e, want) in cases {
            assert_eq!(only_ports(c, e), *want, "{c} {e:?}");
        }
    }

    #[test]
    fn a_value_that_is_no_port_opens_nothing_and_says_so() {
        let f = ports(
            &cmd("torchrun --master-port http t.py"),
            &env(&[("MASTER_PORT", "0")]),
        );
        assert!(f.ports.is_empty(), "{f:?}");
        assert_eq!(f.ignored.len(), 2, "{f:?}");
        assert!(f.ignored[0].starts_with("MASTER_PORT=\"0\""), "{f:?}");
        assert!(f.ignored[1].contains("--master-port"), "{f:?}");
    }

    #[test]
    fn the_reason_names_the_source() {
        let f = ports(&cmd("torchrun t.py"), &env(&[("MASTER_PORT", "29517")]));
        assert_eq!(f.ports[0], (29517, "MASTER_PORT".into()));
        assert_eq!(
            f.ports[1],
            (29500, "torchrun's default --master-port".into())
        );
    }
}
