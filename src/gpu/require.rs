//! What the image needs from the driver: `--min-driver`, the `NVIDIA_REQUIRE_*` grammar of
//! the NVIDIA Container Toolkit, and NVIDIA's CUDA-to-minimum-driver table.

use crate::error::{Error, Result};
use std::cmp::Ordering;

/// A dotted numeric version (`470.82.01`, `12.4`, `8.0`). Missing components compare as 0;
/// it displays as written (leading zeros kept: `470.82.01`).
#[derive(Debug, Clone)]
pub struct Version(pub Vec<u32>, String);

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        s.split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9 {
                    None
                } else {
                    p.parse().ok()
                }
            })
            .collect::<Option<Vec<u32>>>()
            .map(|p| Version(p, s.to_string()))
    }

    fn from_parts(p: Vec<u32>) -> Version {
        let raw = p
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(".");
        Version(p, raw)
    }

    /// NVML's integer CUDA version (12040 -> 12.4).
    pub fn from_cuda_int(v: i32) -> Version {
        Version::from_parts(vec![(v / 1000) as u32, ((v % 1000) / 10) as u32])
    }

    pub fn major(&self) -> u32 {
        self.0.first().copied().unwrap_or(0)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        for i in 0..n {
            let (a, b) = (self.0.get(i).unwrap_or(&0), other.0.get(i).unwrap_or(&0));
            match a.cmp(b) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

/// NVIDIA's table: minimum Linux x86_64 driver of each CUDA toolkit release
/// (CUDA Toolkit Release Notes, table "CUDA Toolkit and Corresponding Driver Versions").
/// (major, minor, update) -> driver.
pub const CUDA_DRIVER_TABLE: &[((u32, u32, u32), &str)] = &[
    ((11, 0, 1), "450.36.06"),
    ((11, 0, 2), "450.51.05"),
    ((11, 0, 3), "450.51.06"),
    ((11, 1, 0), "455.23"),
    ((11, 1, 1), "455.32"),
    ((11, 2, 0), "460.27.03"),
    ((11, 2, 1), "460.32.03"),
    ((11, 2, 2), "460.32.03"),
    ((11, 3, 0), "465.19.01"),
    ((11, 3, 1), "465.19.01"),
    ((11, 4, 0), "470.42.01"),
    ((11, 4, 1), "470.57.02"),
    ((11, 4, 2), "470.57.02"),
    ((11, 4, 3), "470.82.01"),
    ((11, 4, 4), "470.82.01"),
    ((11, 5, 0), "495.29.05"),
    ((11, 5, 1), "495.29.05"),
    ((11, 5, 2), "495.29.05"),
    ((11, 6, 0), "510.39.01"),
    ((11, 6, 1), "510.47.03"),
    ((11, 6, 2), "510.47.03"),
    ((11, 7, 0), "515.43.04"),
    ((11, 7, 1), "515.65.01"),
    ((11, 8, 0), "520.61.05"),
    ((12, 0, 0), "525.60.13"),
    ((12, 0, 1), "525.85.12"),
    ((12, 1, 0), "530.30.02"),
    ((12, 1, 1), "530.30.02"),
    ((12, 2, 0), "535.54.03"),
    ((12, 2, 1), "535.86.09"),
    ((12, 2, 2), "535.104.05"),
    ((12, 3, 0), "545.23.06"),
    ((12, 3, 1), "545.23.08"),
    ((12, 3, 2), "545.23.08"),
    ((12, 4, 0), "550.54.14"),
    ((12, 4, 1), "550.54.15"),
    ((12, 5, 0), "555.42.02"),
    ((12, 5, 1), "555.42.06"),
    ((12, 6, 0), "560.28.03"),
    ((12, 6, 1), "560.35.03"),
    ((12, 6, 2), "560.35.03"),
    ((12, 6, 3), "560.35.05"),
    ((12, 8, 0), "570.26"),
    ((12, 8, 1), "570.124.06"),
    ((12, 9, 0), "575.51.03"),
    ((12, 9, 1), "575.57.08"),
    ((13, 0, 0), "580.65.06"),
    ((13, 0, 1), "580.82.07"),
    ((13, 0, 2), "580.95.05"),
];

/// Minor-version-compatibility floors: the oldest driver that runs any CUDA x.y of the major.
pub fn floor_for(major: u32) -> Option<&'static str> {
    match major {
        11 => Some("450.80.02"),
        12 => Some("525.60.13"),
        13 => Some("580.65.06"),
        _ => None,
    }
}

/// The exact minimum driver for a CUDA release: the row for (major, minor, update), else the
/// highest known update of that minor at or below it. None when the minor is unknown.
pub fn exact_row(cuda: &Version) -> Option<(String, &'static str)> {
    let (ma, mi, up) = (
        cuda.major(),
        *cuda.0.get(1).unwrap_or(&0),
        *cuda.0.get(2).unwrap_or(&0),
    );
    CUDA_DRIVER_TABLE
        .iter()
        .filter(|((a, b, c), _)| *a == ma && *b == mi && *c <= up)
        .max_by_key(|((_, _, c), _)| *c)
        .or_else(|| {
            // an update older than the first row listed (11.0.0): that first row
            CUDA_DRIVER_TABLE
                .iter()
                .filter(|((a, b, _), _)| *a == ma && *b == mi)
                .min_by_key(|((_, _, c), _)| *c)
        })
        .map(|((a, b, c), d)| (format!("{a}.{b}.{c}"), *d))
}

/// The newest CUDA release a driver fully supports, per the table (for the /proc fallback,
/// where NVML's CUDA version is not available).
pub fn cuda_for_driver(driver: &Version) -> Option<Version> {
    CUDA_DRIVER_TABLE
        .iter()
        .filter(|(_, d)| Version::parse(d).is_some_and(|d| d <= *driver))
        .map(|((a, b, _), _)| Version::from_parts(vec![*a, *b]))
        .max()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Cuda,
    Driver,
    Arch,
    Brand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: Key,
    pub op: Op,
    pub value: String,
}

/// One `NVIDIA_REQUIRE_*` variable: alternatives (space-separated, OR) of conjunctions
/// (comma-separated, AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub var: String,
    pub text: String,
    pub any_of: Vec<Vec<Constraint>>,
}

/// What a constraint is evaluated against: one GPU.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub cuda: Option<Version>,
    pub driver: Option<Version>,
    pub arch: Option<Version>,
    pub brand: Option<String>,
}

fn parse_constraint(term: &str, var: &str) -> Result<Constraint> {
    let bad = |why: &str| {
        Error::config(format!(
            "{var}: cannot parse {term:?}: {why}; expected terms like cuda>=12.4 or brand=tesla,driver>=470,driver<471 (or set NVIDIA_DISABLE_REQUIRE=true)"
        ))
    };
    let (key, rest) = ["cuda", "driver", "arch", "brand"]
        .iter()
        .find_map(|k| term.strip_prefix(k).map(|r| (*k, r)))
        .ok_or_else(|| bad("unknown key (cuda, driver, arch, brand)"))?;
    let (op, value) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, o)| rest.strip_prefix(s).map(|v| (*o, v)))
    .ok_or_else(|| bad("missing operator (= != < <= > >=)"))?;
    let key = match key {
        "cuda" => Key::Cuda,
        "driver" => Key::Driver,
        "arch" => Key::Arch,
        _ => Key::Brand,
    };
    if value.is_empty() {
        return Err(bad("empty value"));
    }
    if key != Key::Brand && Version::parse(value).is_none() {
        return Err(bad("not a dotted version"));
    }
    if key == Key::Brand && !matches!(op, Op::Eq | Op::Ne) {
        return Err(bad("brand only takes = or !="));
    }
    Ok(Constraint {
        key,
        op,
        value: value.to_string(),
    })
}

pub fn parse_requirement(var: &str, text: &str) -> Result<Requirement> {
    let mut any_of = Vec::new();
    for alt in text.split_whitespace() {
        let all = alt
            .split(',')
            .map(|t| parse_constraint(t, var))
            .collect::<Result<Vec<_>>>()?;
        any_of.push(all);
    }
    Ok(Requirement {
        var: var.to_string(),
        text: text.to_string(),
        any_of,
    })
}

impl Constraint {
    fn holds(&self, f: &Facts) -> bool {
        let cmp = |have: &Option<Version>| {
            let (Some(h), Some(want)) = (have, Version::parse(&self.value)) else {
                return false;
            };
            let o = h.cmp(&want);
            match self.op {
                Op::Eq => o == Ordering::Equal,
                Op::Ne => o != Ordering::Equal,
                Op::Lt => o == Ordering::Less,
                Op::Le => o != Ordering::Greater,
                Op::Gt => o == Ordering::Greater,
                Op::Ge => o != Ordering::Less,
            }
        };
        match self.key {
            Key::Cuda => cmp(&f.cuda),
            Key::Driver => cmp(&f.driver),
            Key::Arch => cmp(&f.arch),
            Key::Brand => {
                let Some(b) = &f.brand else { return false };
                let eq = b.eq_ignore_ascii_case(&self.value);
                if self.op == Op::Eq {
                    eq
                } else {
                    !eq
                }
            }
        }
    }
}

impl Requirement {
    /// An empty requirement holds; otherwise one alternative must hold entirely.
    pub fn holds(&self, f: &Facts) -> bool {
        self.any_of.is_empty() || self.any_of.iter().any(|all| all.iter().all(|c| c.holds(f)))
    }
}

/// Whether an environment value is true-like (Go's strconv.ParseBool plus yes/on).
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "yes" | "y" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The real values of nvidia/cuda images.
    const CUDA_12_4_1: &str = "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471 brand=tesla,driver>=525,driver<526 brand=unknown,driver>=525,driver<526 brand=nvidia,driver>=525,driver<526 brand=nvidiartx,driver>=525,driver<526 brand=geforce,driver>=525,driver<526 brand=geforcertx,driver>=525,driver<526 brand=quadro,driver>=525,driver<526 brand=quadrortx,driver>=525,driver<526 brand=titan,driver>=525,driver<526 brand=titanrtx,driver>=525,driver<526 brand=tesla,driver>=535,driver<536 brand=unknown,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 brand=nvidiartx,driver>=535,driver<536 brand=geforce,driver>=535,driver<536 brand=geforcertx,driver>=535,driver<536 brand=quadro,driver>=535,driver<536 brand=quadrortx,driver>=535,driver<536 brand=titan,driver>=535,driver<536 brand=titanrtx,driver>=535,driver<536";
    const CUDA_12_8_0: &str = "cuda>=12.8 brand=unknown,driver>=470,driver<471 brand=grid,driver>=470,driver<471 brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=vapps,driver>=470,driver<471 brand=vpc,driver>=470,driver<471 brand=vcs,driver>=470,driver<471 brand=vws,driver>=470,driver<471 brand=cloudgaming,driver>=470,driver<471 brand=unknown,driver>=535,driver<536 brand=grid,driver>=535,driver<536 brand=tesla,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 brand=quadro,driver>=535,driver<536 brand=quadrortx,driver>=535,driver<536 brand=nvidiartx,driver>=535,driver<536 brand=vapps,driver>=535,driver<536 brand=vpc,driver>=535,driver<536 brand=vcs,driver>=535,driver<536 brand=vws,driver>=535,driver<536 brand=cloudgaming,driver>=535,driver<536 brand=unknown,driver>=550,driver<551 brand=grid,driver>=550,driver<551 brand=tesla,driver>=550,driver<551 brand=nvidia,driver>=550,driver<551 brand=quadro,driver>=550,driver<551 brand=quadrortx,driver>=550,driver<551 brand=nvidiartx,driver>=550,driver<551 brand=vapps,driver>=550,driver<551 brand=vpc,driver>=550,driver<551 brand=vcs,driver>=550,driver<551 brand=vws,driver>=550,driver<551 brand=cloudgaming,driver>=550,driver<551 brand=unknown,driver>=560,driver<561 brand=grid,driver>=560,driver<561 brand=tesla,driver>=560,driver<561 brand=nvidia,driver>=560,driver<561 brand=quadro,driver>=560,driver<561 brand=quadrortx,driver>=560,driver<561 brand=nvidiartx,driver>=560,driver<561 brand=vapps,driver>=560,driver<561 brand=vpc,driver>=560,driver<561 brand=vcs,driver>=560,driver<561 brand=vws,driver>=560,driver<561 brand=cloudgaming,driver>=560,driver<561 brand=unknown,driver>=565,driver<566 brand=grid,driver>=565,driver<566 brand=tesla,driver>=565,driver<566 brand=nvidia,driver>=565,driver<566 brand=quadro,driver>=565,driver<566 brand=quadrortx,driver>=565,driver<566 brand=nvidiartx,driver>=565,driver<566 brand=vapps,driver>=565,driver<566 brand=vpc,driver>=565,driver<566 brand=vcs,driver>=565,driver<566 brand=vws,driver>=565,driver<566 brand=cloudgaming,driver>=565,driver<566";

    fn facts(cuda: &str, driver: &str, brand: &str) -> Facts {
        Facts {
            cuda: Version::parse(cuda),
            driver: Version::parse(driver),
            arch: Version::parse("9.0"),
            brand: Some(brand.into()),
        }
    }

    #[test]
    fn versions_compare_numerically() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("470.82.01") < v("471"));
        assert!(v("470.82.01") >= v("470"));
        assert!(v("525.60.13") > v("525.6.13"));
        assert!(v("570.26") < v("570.124.06"));
        assert_eq!(v("12.4"), v("12.4.0"));
        assert!(Version::parse("12.x").is_none());
        assert!(Version::parse("").is_none());
        assert!(Version::parse("1..2").is_none());
        assert_eq!(Version::from_cuda_int(12040).to_string(), "12.4");
        assert_eq!(Version::from_cuda_int(11080).to_string(), "11.8");
    }

    #[test]
    fn real_require_strings() {
        let r = parse_requirement("NVIDIA_REQUIRE_CUDA", CUDA_12_4_1).unwrap();
        assert_eq!(r.any_of.len(), 31);
        assert!(r.holds(&facts("12.4", "550.54.15", "tesla")), "new driver");
        assert!(
            r.holds(&facts("11.4", "470.82.01", "tesla")),
            "R470 datacenter forward compat"
        );
        assert!(
            r.holds(&facts("12.2", "535.104.05", "geforce")),
            "R535 branch listed"
        );
        assert!(
            !r.holds(&facts("12.2", "535.104.05", "grid")),
            "brand not listed"
        );
        assert!(
            !r.holds(&facts("12.3", "545.23.08", "tesla")),
            "R545 not listed, cuda too old"
        );
        let r = parse_requirement("NVIDIA_REQUIRE_CUDA", CUDA_12_8_0).unwrap();
        assert!(r.holds(&facts("12.8", "570.124.06", "nvidia")));
        assert!(r.holds(&facts("12.7", "565.57.01", "tesla")));
        assert!(
            !r.holds(&facts("12.6", "560.35.03", "geforce")),
            "geforce not listed in 12.8.0's"
        );
        assert!(r.holds(&facts("12.6", "560.35.03", "tesla")));
    }

    #[test]
    fn malformed_requirements_are_config_errors() {
        for t in [
            "cuda>>12",
            "cuda",
            "gpu>=1",
            "cuda>=twelve",
            "brand>tesla",
            "driver>=",
            "cuda>=12.4,",
        ] {
            let e = parse_requirement("NVIDIA_REQUIRE_CUDA", t).unwrap_err();
            assert_eq!(e.code(), 78, "{t}");
            assert!(e.msg.contains("NVIDIA_REQUIRE_CUDA"), "{}", e.msg);
        }
        assert!(parse_requirement("NVIDIA_REQUIRE_ARCH", "arch>=7.0 arch=6.1").is_ok());
    }

    #[test]
    fn the_table() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(exact_row(&v("12.4.1")).unwrap().1, "550.54.15");
        assert_eq!(exact_row(&v("12.4")).unwrap().1, "550.54.14");
        assert_eq!(exact_row(&v("12.1.0")).unwrap().1, "530.30.02");
        assert_eq!(exact_row(&v("12.8.0")).unwrap().1, "570.26");
        assert_eq!(exact_row(&v("13.0.0")).unwrap().1, "580.65.06");
        assert_eq!(exact_row(&v("11.8.0")).unwrap().1, "520.61.05");
        assert_eq!(
            exact_row(&v("12.6.9")).unwrap().1,
            "560.35.05",
            "newer update: newest row"
        );
        assert!(exact_row(&v("12.7.0")).is_none(), "no 12.7 toolkit");
        assert_eq!(floor_for(12), Some("525.60.13"));
        assert_eq!(floor_for(11), Some("450.80.02"));
        assert_eq!(floor_for(13), Some("580.65.06"));
        assert_eq!(cuda_for_driver(&v("535.104.05")), Some(v("12.2")));
        assert_eq!(v("470.82.01").to_string(), "470.82.01");
        assert_eq!(cuda_for_driver(&v("470.82.01")), Some(v("11.4")));
        // the table is sorted and every driver parses
        assert!(CUDA_DRIVER_TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CUDA_DRIVER_TABLE
            .iter()
            .all(|(_, d)| Version::parse(d).is_some()));
    }

    #[test]
    fn truthiness() {
        for t in ["1", "true", "TRUE", "yes", "on", "t"] {
            assert!(truthy(t));
        }
        for f in ["0", "false", "", "no", "off", "maybe"] {
            assert!(!truthy(f));
        }
    }
}
