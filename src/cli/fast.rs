//! The run path's own parser: what clap would read, without building clap's parser.

use super::{RunArgs, Takes, RUN_OPTIONS, SUBCOMMANDS};
use std::ffi::OsString;

/// The run path's own parser, for start-up time: building clap's parser for ~50 options
/// took a quarter of a millisecond of every start. It reads what clap would read (the same
/// options and variables, the same defaults and value words) and answers `None` whenever it
/// is not certain of clap's answer — help, version, a subcommand, an unknown or repeated
/// option, an empty value, a value starting with `-`, a value clap would refuse, anything
/// not UTF-8 but the command — and clap then parses as before: every message and refusal
/// stays clap's. `args` includes the program name; `env` looks a variable up. A test
/// compares the two parsers over every option, value kind and source.
pub fn parse_run(args: &[OsString], env: &dyn Fn(&str) -> Option<OsString>) -> Option<RunArgs> {
    let mut given: Vec<Option<Vec<String>>> = vec![None; RUN_OPTIONS.len()];
    let mut command = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_str();
        match a {
            Some("--") => {
                command.extend_from_slice(&args[i + 1..]);
                break;
            }
            Some(a) if a.starts_with("--") => {
                let (name, inline) = match a[2..].split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (&a[2..], None),
                };
                let k = RUN_OPTIONS.iter().position(|o| o.long == name)?;
                let value = match (RUN_OPTIONS[k].takes, inline) {
                    (Takes::Flag, Some(_)) => return None,
                    (Takes::Flag, None) => "true".to_string(),
                    (_, Some(v)) => v.to_string(),
                    (_, None) => {
                        i += 1;
                        args.get(i)?.to_str()?.to_string()
                    }
                };
                if value.is_empty() || value.starts_with('-') {
                    return None;
                }
                match (&mut given[k], RUN_OPTIONS[k].takes) {
                    (Some(v), Takes::List) => v.push(value),
                    (Some(_), _) => return None,
                    (slot, _) => *slot = Some(vec![value]),
                }
            }
            Some(a) if a.starts_with('-') => return None,
            Some(a) if SUBCOMMANDS.contains(&a) || a == "help" => return None,
            _ => {
                command.extend_from_slice(&args[i..]);
                break;
            }
        }
        i += 1;
    }
    if command.is_empty() {
        return None;
    }
    // What each option holds: the command line's words, else its variable's, else None.
    let mut vals: Vec<Option<Vec<OsString>>> = Vec::with_capacity(RUN_OPTIONS.len());
    for (k, o) in RUN_OPTIONS.iter().enumerate() {
        let mut v = match given[k].take() {
            Some(v) => Some(v),
            None => match env(o.var) {
                None => None,
                Some(v) => {
                    let v = v.into_string().ok()?;
                    if v.is_empty() || v.starts_with('-') {
                        return None;
                    }
                    Some(vec![v])
                }
            },
        };
        if o.takes == Takes::List {
            if let Some(words) = &v {
                let parts: Vec<String> = words
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(str::to_string)
                    .collect();
                if parts.iter().any(|p| p.is_empty() || p.starts_with('-')) {
                    return None;
                }
                v = Some(parts);
            }
        }
        vals.push(v.map(|words| words.into_iter().map(OsString::from).collect()));
    }
    RunArgs::fill(vals, command)
}
