//! GPU preflight: read the driver through NVML in a short-lived helper process (NVML starts
//! threads; the process that forks the workload must stay single-threaded), fall back to
//! /proc/driver/nvidia/version, and check it against what the image needs.

pub mod require;

use crate::error::{Error, Result};
use require::{Facts, Requirement, Version};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GpuMode {
    /// Check when /dev/nvidiactl exists or NVIDIA_VISIBLE_DEVICES names devices.
    Auto,
    /// Always check; refuse (69) when the driver is missing or too old.
    Require,
    /// Check, but only warn.
    Warn,
    /// No GPU checks.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub brand: String,
    pub compute_capability: String,
    pub memory_total_mib: u64,
    /// "enabled", "disabled" or "unsupported".
    pub mig_mode: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// "nvml" or "proc".
    pub source: String,
    pub driver: String,
    /// The newest CUDA the driver supports (NVML), e.g. "12.4".
    pub cuda: Option<String>,
    pub devices: Vec<Device>,
}

/// What the helper process prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Probe {
    Ok { report: Report },
    LibraryMissing { error: String },
    Failed { error: String },
}

/// Query NVML (run in the helper process: NVML may start threads).
pub fn probe_nvml(lib: Option<&Path>) -> Probe {
    use nvml_wrapper::error::NvmlError;
    use nvml_wrapper::Nvml;
    let mut b = Nvml::builder();
    if let Some(l) = lib {
        b.lib_path(l.as_os_str());
    }
    let nvml = match b.init() {
        Ok(n) => n,
        Err(NvmlError::LibloadingError(e)) => {
            return Probe::LibraryMissing {
                error: e.to_string(),
            }
        }
        Err(e) => {
            return Probe::Failed {
                error: format!("NVML initialisation failed: {e}"),
            }
        }
    };
    let fail = |what: &str, e: NvmlError| Probe::Failed {
        error: format!("NVML {what} failed: {e}"),
    };
    let driver = match nvml.sys_driver_version() {
        Ok(d) => d,
        Err(e) => return fail("driver version query", e),
    };
    let cuda = nvml
        .sys_cuda_driver_version()
        .ok()
        .map(|v| Version::from_cuda_int(v).to_string());
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => return fail("device count", e),
    };
    let mut devices = Vec::new();
    for i in 0..count {
        let d = match nvml.device_by_index(i) {
            Ok(d) => d,
            Err(e) => return fail(&format!("device {i} lookup"), e),
        };
        let mig_mode = match d.mig_mode() {
            Ok(m) if m.current == 1 => "enabled".to_string(),
            Ok(_) => "disabled".to_string(),
            Err(_) => "unsupported".to_string(),
        };
        devices.push(Device {
            index: i,
            name: d.name().unwrap_or_else(|e| format!("<unknown: {e}>")),
            uuid: d.uuid().unwrap_or_default(),
            brand: d
                .brand()
                .map(|b| format!("{b:?}").to_ascii_lowercase())
                .unwrap_or_else(|_| "unknown".into()),
            compute_capability: d
                .cuda_compute_capability()
                .map(|c| format!("{}.{}", c.major, c.minor))
                .unwrap_or_default(),
            memory_total_mib: d.memory_info().map(|m| m.total / (1 << 20)).unwrap_or(0),
            mig_mode,
        });
    }
    Probe::Ok {
        report: Report {
            source: "nvml".into(),
            driver,
            cuda,
            devices,
        },
    }
}

/// What the image needs from the driver.
#[derive(Debug, Clone)]
pub enum Need {
    MinDriver(Version),
    Require(Vec<Requirement>),
    Cuda {
        cuda: Version,
        floor: Version,
        exact: Option<(String, Version)>,
    },
    Nothing,
}

#[derive(Debug, Clone)]
pub struct GpuPlan {
    pub mode: GpuMode,
    pub requested: bool,
    pub reason: String,
    pub need: Need,
    /// Where the need came from, for messages.
    pub need_source: String,
    pub nvml_library: Option<PathBuf>,
    pub proc_version: PathBuf,
}

/// Resolve the GPU part of the plan (configuration errors only; nothing is probed).
pub fn plan(
    mode: GpuMode,
    min_driver: Option<&str>,
    nvml_library: Option<PathBuf>,
    proc_version: PathBuf,
    dev_dir: &Path,
    facts: &crate::facts::Facts,
) -> Result<GpuPlan> {
    let env = |name: &str| facts.var_str(name).map(str::to_string);
    let visible = env("NVIDIA_VISIBLE_DEVICES")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "void" && v != "none");
    let ctl = dev_dir.join("nvidiactl");
    let (requested, reason) = match mode {
        GpuMode::Off => (false, "--gpu off".to_string()),
        GpuMode::Require => (true, "--gpu require".to_string()),
        GpuMode::Warn => (true, "--gpu warn".to_string()),
        GpuMode::Auto => {
            if facts.nvidiactl {
                (true, format!("{} exists", ctl.display()))
            } else if let Some(v) = &visible {
                (true, format!("NVIDIA_VISIBLE_DEVICES={v}"))
            } else {
                (
                    false,
                    format!(
                        "no {} and NVIDIA_VISIBLE_DEVICES unset or void",
                        ctl.display()
                    ),
                )
            }
        }
    };
    let (need, need_source) = if let Some(m) = min_driver {
        let v = Version::parse(m).ok_or_else(|| {
            Error::config(format!(
                "--min-driver: {m:?} is not a driver version like 535.104.05"
            ))
        })?;
        (Need::MinDriver(v), "--min-driver".to_string())
    } else {
        let disabled = env("NVIDIA_DISABLE_REQUIRE").is_some_and(|v| require::truthy(&v));
        let mut reqs = Vec::new();
        if !disabled {
            let mut vars: Vec<(String, String)> = facts
                .env
                .iter()
                .filter(|(k, _)| {
                    std::os::unix::ffi::OsStrExt::as_bytes(k.as_os_str())
                        .starts_with(b"NVIDIA_REQUIRE_")
                })
                .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v.to_str()?.to_string())))
                .collect();
            vars.sort();
            for (k, v) in vars {
                if !v.trim().is_empty() {
                    reqs.push(require::parse_requirement(&k, &v)?);
                }
            }
        }
        if !reqs.is_empty() {
            let names: Vec<&str> = reqs.iter().map(|r| r.var.as_str()).collect();
            let src = names.join(", ");
            (Need::Require(reqs), src)
        } else if let Some(cv) = env("CUDA_VERSION").filter(|v| !v.trim().is_empty()) {
            let cuda = Version::parse(&cv).ok_or_else(|| {
                Error::config(format!(
                    "CUDA_VERSION: {cv:?} is not a version like 12.4.1; fix the image's ENV or pass --min-driver"
                ))
            })?;
            match require::floor_for(cuda.major()) {
                Some(floor) => {
                    let exact = require::exact_row(&cuda)
                        .map(|(rel, d)| (rel, Version::parse(d).expect("table parses")));
                    (
                        Need::Cuda {
                            cuda,
                            floor: Version::parse(floor).expect("floor parses"),
                            exact,
                        },
                        "CUDA_VERSION".to_string(),
                    )
                }
                None => {
                    return Err(Error::config(format!(
                        "CUDA_VERSION={cv}: no driver table for CUDA {}.x (11, 12 and 13 are known); pass --min-driver",
                        cuda.major()
                    )))
                }
            }
        } else {
            (Need::Nothing, "none".to_string())
        }
    };
    Ok(GpuPlan {
        mode,
        requested,
        reason,
        need,
        need_source,
        nvml_library,
        proc_version,
    })
}

/// Run the NVML helper (`secure-init gpu-info`) with a timeout.
fn run_helper(lib: Option<&Path>) -> Probe {
    let mut c = std::process::Command::new("/proc/self/exe");
    c.arg("gpu-info");
    if let Some(l) = lib {
        c.arg("--nvml-library").arg(l);
    }
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            return Probe::Failed {
                error: format!("cannot start the NVML helper: {e}"),
            }
        }
    };
    let t = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t.elapsed() > Duration::from_secs(30) => {
                let _ = child.kill();
                let _ = child.wait();
                return Probe::Failed {
                    error: "NVML did not answer within 30 s (driver hung?)".into(),
                };
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                return Probe::Failed {
                    error: format!("waiting for the NVML helper: {e}"),
                }
            }
        }
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        use std::io::Read;
        let _ = s.read_to_string(&mut out);
    }
    serde_json::from_str(&out).unwrap_or_else(|_| Probe::Failed {
        error: format!("the NVML helper crashed ({status}) inside the NVIDIA library"),
    })
}

/// Parse `/proc/driver/nvidia/version` ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01 …").
pub fn parse_proc_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    line.split_whitespace()
        .find(|w| w.contains('.') && Version::parse(w).is_some())
        .map(str::to_string)
}

enum Verdict {
    Ok,
    Warn(String),
    Refuse(String),
}

fn evaluate(p: &GpuPlan, r: &Report) -> Verdict {
    let Some(driver) = Version::parse(&r.driver) else {
        return Verdict::Refuse(format!(
            "cannot read driver version {:?}; check the NVIDIA driver installation",
            r.driver
        ));
    };
    let fix =
        "upgrade the host driver, use an image built for an older CUDA, or run with --gpu warn";
    match &p.need {
        Need::Nothing => Verdict::Ok,
        Need::MinDriver(min) => {
            if driver < *min {
                Verdict::Refuse(format!(
                    "driver {driver} is older than {min}, required by --min-driver; {fix}"
                ))
            } else {
                Verdict::Ok
            }
        }
        Need::Cuda { cuda, floor, exact } => {
            if driver < *floor {
                return Verdict::Refuse(format!(
                    "driver {driver} is older than {floor}, required by CUDA {cuda} (CUDA_VERSION); {fix}"
                ));
            }
            match exact {
                Some((rel, want)) if driver < *want => Verdict::Warn(format!(
                    "driver {driver} runs CUDA {cuda} only through minor-version compatibility (CUDA {rel} was released for {want}): JIT paths such as Triton, torch.compile and PTX kernels may fail; upgrade the host driver to {want} or newer"
                )),
                None => Verdict::Warn(format!(
                    "CUDA {cuda} is not in secure-init's driver table; driver {driver} meets the CUDA {}.x floor {floor} (pass --min-driver to be exact)",
                    cuda.major()
                )),
                _ => Verdict::Ok,
            }
        }
        Need::Require(reqs) => {
            let cuda = r
                .cuda
                .as_deref()
                .and_then(Version::parse)
                .or_else(|| require::cuda_for_driver(&driver));
            let mut facts: Vec<(String, Facts)> = r
                .devices
                .iter()
                .map(|d| {
                    (
                        format!(
                            "GPU {} ({}, brand {}, arch {})",
                            d.index, d.name, d.brand, d.compute_capability
                        ),
                        Facts {
                            cuda: cuda.clone(),
                            driver: Some(driver.clone()),
                            arch: Version::parse(&d.compute_capability),
                            brand: Some(d.brand.clone()),
                        },
                    )
                })
                .collect();
            if facts.is_empty() {
                facts.push((
                    "the driver".into(),
                    Facts {
                        cuda: cuda.clone(),
                        driver: Some(driver.clone()),
                        arch: None,
                        brand: None,
                    },
                ));
            }
            for req in reqs {
                for (who, f) in &facts {
                    if !req.holds(f) {
                        let mut text = req.text.clone();
                        if text.len() > 120 {
                            text.truncate(117);
                            text.push_str("...");
                        }
                        let cuda_s = cuda
                            .as_ref()
                            .map(|c| c.to_string())
                            .unwrap_or("unknown".into());
                        return Verdict::Refuse(format!(
                            "{} is not met by {who} with driver {driver} (CUDA {cuda_s}): {text:?}; upgrade the host driver, use an image built for an older CUDA, or set NVIDIA_DISABLE_REQUIRE=true",
                            req.var
                        ));
                    }
                }
            }
            Verdict::Ok
        }
    }
}

fn shm_check() {
    let path = Path::new("/dev/shm");
    match crate::sys::fs_size(path) {
        Some(bytes) if bytes >= 1 << 30 => {}
        Some(bytes) => log::warn!(target: "preflight.shm", size_mib = bytes >> 20;
            "/dev/shm is {} MiB (< 1 GiB): PyTorch DataLoader workers die with \"Bus error\"; use docker run --shm-size=8g, or in Kubernetes mount an emptyDir with medium: Memory at /dev/shm", bytes >> 20),
        None => log::warn!(target: "preflight.shm",
            "/dev/shm is missing: PyTorch DataLoader workers need it; use docker run --shm-size=8g, or in Kubernetes mount an emptyDir with medium: Memory at /dev/shm"),
    }
}

/// The preflight: probe, log `gpu.driver`, decide. Err(69) on refusal (unless --gpu warn).
pub fn preflight(p: &GpuPlan) -> Result<()> {
    shm_check();
    if !p.requested {
        log::info!(target: "gpu.skip", reason = p.reason.as_str(); "no GPU requested: driver checks skipped");
        return Ok(());
    }
    let refuse = |msg: String| -> Result<()> {
        if p.mode == GpuMode::Warn {
            log::warn!(target: "gpu.check", "{msg} (continuing: --gpu warn)");
            Ok(())
        } else {
            Err(Error::unavailable(msg))
        }
    };
    let report = match run_helper(p.nvml_library.as_deref()) {
        Probe::Ok { report } => report,
        Probe::LibraryMissing { error } => {
            match std::fs::read_to_string(&p.proc_version).ok().and_then(|t| parse_proc_version(&t)) {
                Some(driver) => {
                    log::warn!(target: "gpu.nvml", error = error.as_str();
                        "NVML is unavailable (libnvidia-ml.so.1 not loadable); using {} instead: no device details", p.proc_version.display());
                    Report {
                        source: "proc".into(),
                        driver,
                        cuda: None,
                        devices: vec![],
                    }
                }
                None => {
                    return refuse(format!(
                        "no NVIDIA driver found: NVML library not loadable ({error}) and {} missing; run the container with the NVIDIA runtime (docker run --gpus all) or set --gpu off for CPU-only use",
                        p.proc_version.display()
                    ))
                }
            }
        }
        Probe::Failed { error } => {
            return refuse(format!(
                "{error}; check that the NVIDIA driver is loaded on the host, that its version matches the container's NVML library, and that /dev/nvidia* are accessible"
            ))
        }
    };
    let devices = serde_json::to_string(&report.devices).unwrap_or_default();
    let mig = report
        .devices
        .iter()
        .filter(|d| d.mig_mode == "enabled")
        .count();
    log::info!(target: "gpu.driver", source = report.source.as_str(), driver = report.driver.as_str(),
        cuda = report.cuda.as_deref().unwrap_or("unknown"), device_count = report.devices.len(),
        mig_enabled = mig, devices = devices.as_str(), requirement = p.need_source.as_str();
        "NVIDIA driver {} ({} GPU(s){})", report.driver, report.devices.len(),
        if mig > 0 { format!(", MIG on {mig}") } else { String::new() });
    match evaluate(p, &report) {
        Verdict::Ok => Ok(()),
        Verdict::Warn(m) => {
            log::warn!(target: "gpu.check", "{m}");
            Ok(())
        }
        Verdict::Refuse(m) => refuse(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_version_parses() {
        let t = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Thu Oct 28 21:21:42 UTC 2021\nGCC version:  gcc version 9.3.0\n";
        assert_eq!(parse_proc_version(t).as_deref(), Some("470.82.01"));
        let t = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  (dvs-builder@U16-I3-B13-4-3)  Wed Feb 26 01:38:47 UTC 2025\n";
        assert_eq!(parse_proc_version(t).as_deref(), Some("570.124.06"));
        assert_eq!(parse_proc_version("garbage"), None);
    }
}
