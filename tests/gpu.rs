//! GPU preflight against a fake libnvidia-ml.so.1 (tests/fake-nvml), no GPU needed.

mod common;
use common::*;

const CUDA_12_4_1_REQUIRE: &str = "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471 brand=tesla,driver>=525,driver<526 brand=unknown,driver>=525,driver<526 brand=nvidia,driver>=525,driver<526 brand=nvidiartx,driver>=525,driver<526 brand=geforce,driver>=525,driver<526 brand=geforcertx,driver>=525,driver<526 brand=quadro,driver>=525,driver<526 brand=quadrortx,driver>=525,driver<526 brand=titan,driver>=525,driver<526 brand=titanrtx,driver>=525,driver<526 brand=tesla,driver>=535,driver<536 brand=unknown,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 brand=nvidiartx,driver>=535,driver<536 brand=geforce,driver>=535,driver<536 brand=geforcertx,driver>=535,driver<536 brand=quadro,driver>=535,driver<536 brand=quadrortx,driver>=535,driver<536 brand=titan,driver>=535,driver<536 brand=titanrtx,driver>=535,driver<536";

/// Run `secure-init --gpu MODE --nvml-library FAKE ... -- echo STARTED` with env pairs.
fn run(mode: &str, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let lib = fake_nvml();
    let mut a = vec![
        "--gpu",
        mode,
        "--nvml-library",
        lib.to_str().unwrap(),
        "--nvidia-version-file",
        "/nonexistent/version",
    ];
    a.extend_from_slice(extra);
    a.extend(["--", "echo", "STARTED"]);
    let mut c = cmd_gpu(&a);
    for (k, v) in env {
        c.env(k, v);
    }
    output(c)
}

fn started(o: &std::process::Output) -> bool {
    stdout(o).contains("STARTED")
}

#[test]
fn driver_ok_starts_and_logs_the_driver_event() {
    let o = run(
        "require",
        &[
            ("CUDA_VERSION", "12.4.1"),
            ("FAKE_NVML_DRIVER", "550.54.15"),
            ("FAKE_NVML_COUNT", "2"),
        ],
        &[],
    );
    assert_code(&o, 0);
    assert!(started(&o));
    let ev = events(&o, "gpu.driver");
    assert_eq!(ev.len(), 1, "{}", stderr(&o));
    let e = &ev[0];
    assert_eq!(e["driver"], "550.54.15");
    assert_eq!(e["cuda"], "12.4");
    assert_eq!(e["device_count"], 2);
    assert_eq!(e["source"], "nvml");
    assert_eq!(e["devices"][1]["name"], "NVIDIA H100 80GB HBM3");
    assert_eq!(e["devices"][0]["compute_capability"], "9.0");
    assert_eq!(e["devices"][0]["memory_total_mib"], 81559);
    assert!(e["devices"][0]["uuid"]
        .as_str()
        .unwrap()
        .starts_with("GPU-"));
    assert!(events(&o, "gpu.check").is_empty(), "no warning");
}

#[test]
fn too_old_driver_is_refused_with_69() {
    let o = run(
        "require",
        &[
            ("CUDA_VERSION", "12.1.0"),
            ("FAKE_NVML_DRIVER", "470.82.01"),
            ("FAKE_NVML_CUDA", "11040"),
        ],
        &[],
    );
    assert_code(&o, 69);
    assert!(!started(&o));
    let m = fatal_msg(&o);
    assert!(
        m.contains(
            "driver 470.82.01 is older than 525.60.13, required by CUDA 12.1.0 (CUDA_VERSION)"
        ),
        "{m}"
    );
    assert!(
        m.contains("upgrade the host driver") && m.contains("--gpu warn"),
        "{m}"
    );
    // auto mode with a requested GPU behaves the same
    let o = run(
        "auto",
        &[
            ("NVIDIA_VISIBLE_DEVICES", "all"),
            ("CUDA_VERSION", "12.1.0"),
            ("FAKE_NVML_DRIVER", "470.82.01"),
        ],
        &[],
    );
    assert_code(&o, 69);
    // --gpu warn: warn and start
    let o = run(
        "warn",
        &[
            ("CUDA_VERSION", "12.1.0"),
            ("FAKE_NVML_DRIVER", "470.82.01"),
        ],
        &[],
    );
    assert_code(&o, 0);
    assert!(started(&o));
    assert!(events(&o, "gpu.check")[0]["msg"]
        .as_str()
        .unwrap()
        .contains("470.82.01"));
}

#[test]
fn between_floor_and_exact_row_warns_and_starts() {
    let o = run(
        "require",
        &[
            ("CUDA_VERSION", "12.4.1"),
            ("FAKE_NVML_DRIVER", "535.104.05"),
            ("FAKE_NVML_CUDA", "12020"),
        ],
        &[],
    );
    assert_code(&o, 0);
    assert!(started(&o));
    let w = events(&o, "gpu.check");
    assert_eq!(w.len(), 1, "{}", stderr(&o));
    assert_eq!(w[0]["level"], "warn");
    let m = w[0]["msg"].as_str().unwrap();
    assert!(
        m.contains("minor-version compatibility")
            && m.contains("550.54.15")
            && m.contains("torch.compile"),
        "{m}"
    );
}

#[test]
fn missing_library_require_refuses_auto_without_devices_starts() {
    let empty = TempDir::new("nodev");
    let mut c = cmd_gpu(&[
        "--gpu",
        "require",
        "--nvml-library",
        "/nonexistent/libnvidia-ml.so.1",
        "--nvidia-version-file",
        "/nonexistent/version",
        "--",
        "echo",
        "STARTED",
    ]);
    c.env("CUDA_VERSION", "12.4.1");
    let o = output(c);
    assert_code(&o, 69);
    let m = fatal_msg(&o);
    assert!(
        m.contains("no NVIDIA driver found") && m.contains("--gpu off"),
        "{m}"
    );
    let o = output(cmd_gpu(&[
        "--gpu",
        "auto",
        "--dev-dir",
        empty.path().to_str().unwrap(),
        "--nvml-library",
        "/nonexistent/lib.so",
        "--",
        "echo",
        "STARTED",
    ]));
    assert_code(&o, 0);
    assert!(started(&o));
    assert_eq!(events(&o, "gpu.skip").len(), 1);
    // void/none mean no GPU
    for v in ["void", "none", ""] {
        let mut c = cmd_gpu(&[
            "--dev-dir",
            empty.path().to_str().unwrap(),
            "--nvml-library",
            "/nonexistent/lib.so",
            "--",
            "echo",
            "STARTED",
        ]);
        c.env("NVIDIA_VISIBLE_DEVICES", v);
        let o = output(c);
        assert_code(&o, 0);
    }
    // a device node in --dev-dir means a GPU was requested
    let dev = TempDir::new("dev");
    std::fs::write(dev.path().join("nvidiactl"), "").unwrap();
    let o = output(cmd_gpu(&[
        "--dev-dir",
        dev.path().to_str().unwrap(),
        "--nvml-library",
        "/nonexistent/lib.so",
        "--nvidia-version-file",
        "/nonexistent",
        "--",
        "echo",
        "STARTED",
    ]));
    assert_code(&o, 69);
    // --gpu off never probes
    let o = output(cmd_gpu(&[
        "--gpu",
        "off",
        "--dev-dir",
        dev.path().to_str().unwrap(),
        "--nvml-library",
        "/nonexistent/lib.so",
        "--",
        "echo",
        "STARTED",
    ]));
    assert_code(&o, 0);
}

#[test]
fn nvml_init_failure_passes_nvml_reason_through() {
    for (rc, words) in [
        ("9", "driver is not loaded"),
        ("4", "permission"),
        ("18", "version"),
    ] {
        let o = run("require", &[("FAKE_NVML_INIT_RC", rc)], &[]);
        assert_code(&o, 69);
        let m = fatal_msg(&o).to_lowercase();
        assert!(m.contains(words), "{rc}: {m}");
        assert!(!started(&o));
    }
}

#[test]
fn mig_mode_is_reported() {
    let o = run(
        "require",
        &[("FAKE_NVML_MIG", "1"), ("FAKE_NVML_COUNT", "1")],
        &[],
    );
    assert_code(&o, 0);
    let e = &events(&o, "gpu.driver")[0];
    assert_eq!(e["devices"][0]["mig_mode"], "enabled");
    assert_eq!(e["mig_enabled"], 1);
    assert!(e["msg"].as_str().unwrap().contains("MIG on 1"));
}

#[test]
fn proc_version_fallback() {
    let d = TempDir::new("procver");
    let f = d.path().join("version");
    std::fs::write(&f, "NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Thu Oct 28 21:21:42 UTC 2021\nGCC version:  gcc version 9.3.0\n").unwrap();
    let args = |v: &str| {
        let mut c = cmd_gpu(&[
            "--gpu",
            "require",
            "--nvml-library",
            "/nonexistent/libnvidia-ml.so.1",
            "--nvidia-version-file",
            f.to_str().unwrap(),
            "--",
            "echo",
            "STARTED",
        ]);
        c.env("CUDA_VERSION", v);
        c
    };
    let o = output(args("12.4.1"));
    assert_code(&o, 69);
    assert!(fatal_msg(&o).contains("driver 470.82.01 is older than 525.60.13"));
    assert_eq!(events(&o, "gpu.nvml").len(), 1, "says NVML was unavailable");
    let o = output(args("11.4.3"));
    assert_code(&o, 0);
    assert_eq!(events(&o, "gpu.driver")[0]["source"], "proc");
}

#[test]
fn nvidia_require_cuda_is_evaluated_per_gpu() {
    // R470 on a datacenter GPU: allowed by the image's forward-compat clause
    let o = run(
        "require",
        &[
            ("NVIDIA_REQUIRE_CUDA", CUDA_12_4_1_REQUIRE),
            ("FAKE_NVML_DRIVER", "470.82.01"),
            ("FAKE_NVML_CUDA", "11040"),
            ("FAKE_NVML_BRAND", "2"),
        ],
        &[],
    );
    assert_code(&o, 0);
    // R545 GeForce: not listed, CUDA 12.3 < 12.4 -> refused, naming the variable and GPU
    let o = run(
        "require",
        &[
            ("NVIDIA_REQUIRE_CUDA", CUDA_12_4_1_REQUIRE),
            ("FAKE_NVML_DRIVER", "545.23.08"),
            ("FAKE_NVML_CUDA", "12030"),
            ("FAKE_NVML_BRAND", "5"),
        ],
        &[],
    );
    assert_code(&o, 69);
    let m = fatal_msg(&o);
    assert!(
        m.contains("NVIDIA_REQUIRE_CUDA is not met by GPU 0") && m.contains("geforce"),
        "{m}"
    );
    // disabled: falls back to CUDA_VERSION
    let o = run(
        "require",
        &[
            ("NVIDIA_REQUIRE_CUDA", CUDA_12_4_1_REQUIRE),
            ("NVIDIA_DISABLE_REQUIRE", "true"),
            ("CUDA_VERSION", "12.2.2"),
            ("FAKE_NVML_DRIVER", "545.23.08"),
        ],
        &[],
    );
    assert_code(&o, 0);
    // another NVIDIA_REQUIRE_* variable, AND-ed
    let o = run(
        "require",
        &[
            ("NVIDIA_REQUIRE_CUDA", "cuda>=12.0"),
            ("NVIDIA_REQUIRE_ARCH", "arch>=9.0"),
            ("FAKE_NVML_CC", "8.0"),
        ],
        &[],
    );
    assert_code(&o, 69);
    assert!(fatal_msg(&o).contains("NVIDIA_REQUIRE_ARCH"));
    // --min-driver wins over everything
    let o = run(
        "require",
        &[
            ("NVIDIA_REQUIRE_CUDA", "cuda>=99.0"),
            ("FAKE_NVML_DRIVER", "550.54.15"),
        ],
        &["--min-driver", "550.54"],
    );
    assert_code(&o, 0);
    let o = run(
        "require",
        &[("FAKE_NVML_DRIVER", "550.54.15")],
        &["--min-driver", "560"],
    );
    assert_code(&o, 69);
    assert!(fatal_msg(&o).contains("required by --min-driver"));
}

#[test]
fn malformed_requirements_are_78() {
    for (env, extra, want) in [
        (
            vec![("NVIDIA_REQUIRE_CUDA", "cuda>>12.4")],
            vec![],
            "NVIDIA_REQUIRE_CUDA",
        ),
        (
            vec![("NVIDIA_REQUIRE_CUDA", "gpu=big")],
            vec![],
            "NVIDIA_REQUIRE_CUDA",
        ),
        (vec![("CUDA_VERSION", "twelve")], vec![], "CUDA_VERSION"),
        (vec![], vec!["--min-driver", "latest"], "--min-driver"),
    ] {
        let o = run("require", &env, &extra);
        assert_code(&o, 78);
        assert!(fatal_msg(&o).contains(want));
        assert!(!started(&o));
    }
}

#[test]
fn small_dev_shm_warns() {
    require_root();
    let mut c = std::process::Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "$@""#)
        .arg("sh")
        .arg(bin())
        .args(["--gpu", "off", "--", "true"])
        .env("SECURE_INIT_LOG_FORMAT", "json");
    let o = output(c);
    assert_code(&o, 0);
    let w = events(&o, "preflight.shm");
    assert_eq!(w.len(), 1, "{}", stderr(&o));
    let m = w[0]["msg"].as_str().unwrap();
    assert!(
        m.contains("64 MiB") && m.contains("--shm-size") && m.contains("medium: Memory"),
        "{m}"
    );
}
