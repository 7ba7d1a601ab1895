//! How a run option is declared (`run_options!`) and what is made from a declaration: its
//! row in [`RUN_OPTIONS`](super::RUN_OPTIONS) ([`Opt`]), clap's argument ([`Opt::arg`]), the
//! fast path's conversion of its words ([`Word`], [`Field`]) and the reference's table
//! ([`options_table`]).

use super::RUN_OPTIONS;
use crate::log::{Format, LevelArg};
use clap::builder::BoolishValueParser;
use std::ffi::OsString;
use std::path::PathBuf;

/// `Some(x)` for an optional macro part that is there, `None` otherwise.
macro_rules! some_or_none {
    () => {
        None
    };
    ($x:expr) => {
        Some($x)
    };
}

/// The run path's options, each declared once: its field (type and doc comment, which is
/// `--help`'s text), its kind, `--long` name and `SECURE_INIT_*` variable, and optionally
/// its value's name, default and range, and how the reference describes it (`shown`
/// default, `about`). Makes [`RunArgs`], [`RUN_OPTIONS`] (from which
/// clap's arguments, [`parse_run`]'s table and the docs' option table are made) and the
/// two ways of filling `RunArgs` (from [`parse_run`]'s words, from clap's matches).
macro_rules! run_options {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty = $takes:ident $long:literal $var:literal
            $(value_name $vname:literal)? $(default $default:literal)?
            $(range $lo:literal ..= $hi:literal)? $(shown $shown:literal)? $(about $about:literal)? ;
    )*) => {
        /// The options of the run path (`secure-init [OPTIONS] [--] COMMAND`), parsed.
        #[derive(Debug, Clone)]
        pub struct RunArgs {
            $( $(#[doc = $doc])* pub $field: $ty, )*
            /// The command to run (after `--`, or from the first argument that is not an
            /// option).
            pub command: Vec<OsString>,
        }

        /// Every option of the run path, in `--help`'s order.
        pub const RUN_OPTIONS: &[Opt] = &[$(
            Opt {
                id: stringify!($field),
                long: $long,
                var: $var,
                takes: Takes::$takes,
                value_name: some_or_none!($($vname)?),
                default: some_or_none!($($default)?),
                range: some_or_none!($(($lo, $hi))?),
                shown: some_or_none!($($shown)?),
                about: some_or_none!($($about)?),
                doc: &[$($doc),*],
                parser: <$ty as Field>::parser,
            },
        )*];

        impl RunArgs {
            /// From the words each option was given (in [`RUN_OPTIONS`]' order; `None`:
            /// absent): `None` where a word is not one the fast path is certain of.
            pub(super) fn fill(mut vals: Vec<Option<Vec<OsString>>>, command: Vec<OsString>) -> Option<RunArgs> {
                let mut k = 0;
                let mut next = || {
                    k += 1;
                    (vals[k - 1].take(), RUN_OPTIONS[k - 1].default, RUN_OPTIONS[k - 1].range)
                };
                Some(RunArgs {
                    $( $field: {
                        let (given, default, range) = next();
                        if !in_range(&given, range) {
                            return None;
                        }
                        <$ty as Field>::fill(given, default)?
                    }, )*
                    command,
                })
            }

            /// From clap's matches.
            fn from_matches(m: &clap::ArgMatches) -> Result<RunArgs, clap::Error> {
                Ok(RunArgs {
                    $( $field: <$ty as Field>::from_matches(m, stringify!($field))?, )*
                    command: m
                        .get_many::<OsString>("command")
                        .map(|v| v.cloned().collect())
                        .unwrap_or_default(),
                })
            }
        }
    };
}

/// Whether the number given is within the option's range (no range, or nothing given: yes).
pub(super) fn in_range(given: &Option<Vec<OsString>>, range: Option<(u64, u64)>) -> bool {
    match (given.as_ref().and_then(|v| v.last()), range) {
        (Some(w), Some((lo, hi))) => w
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| (lo..=hi).contains(&n)),
        _ => true,
    }
}

/// How an option of the run path takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// `--flag`, or its variable set to a yes/no word.
    Flag,
    /// `--name VALUE` / `--name=VALUE`, once.
    One,
    /// `--name A,B` (repeatable; the variable holds a comma-separated list).
    List,
}

/// One option of the run path, as declared in [`run_options!`]: clap's argument
/// ([`Opt::arg`]), the fast parser ([`parse_run`]) and the reference's option table
/// ([`options_table`]) are all made from it.
#[derive(Debug)]
pub struct Opt {
    /// clap's id: the field's name.
    pub id: &'static str,
    /// `--long`.
    pub long: &'static str,
    /// `SECURE_INIT_*`.
    pub var: &'static str,
    pub takes: Takes,
    /// The value's name in `--help` (default: the id in capitals, as clap's derive does).
    pub value_name: Option<&'static str>,
    /// The default, as the word the option would be given.
    pub default: Option<&'static str>,
    /// Accepted range of a number.
    pub range: Option<(u64, u64)>,
    /// The doc comment's lines: `--help`'s text.
    pub doc: &'static [&'static str],
    /// The reference's default where the option has none to declare ("`1001` when root").
    pub shown: Option<&'static str>,
    /// The reference's description (default: the help text).
    pub about: Option<&'static str>,
    /// clap's parser for one value.
    pub parser: fn() -> clap::builder::ValueParser,
}

impl Opt {
    /// The help text, as clap's derive makes it from a one-paragraph doc comment: the
    /// lines trimmed and joined, a final period dropped.
    pub fn help(&self) -> String {
        let mut h = self
            .doc
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
        if h.ends_with('.') && !h.ends_with("..") {
            h.pop();
        }
        h
    }

    /// clap's argument (`display_order`: its place in the table).
    pub fn arg(&self, order: usize) -> clap::Arg {
        use clap::{Arg, ArgAction};
        let parser = match self.range {
            Some((lo, hi)) => clap::value_parser!(u64).range(lo..=hi).into(),
            None => (self.parser)(),
        };
        let a = Arg::new(self.id)
            .long(self.long)
            .env(self.var)
            .help(self.help())
            .value_name(match self.value_name {
                Some(n) => n.to_string(),
                None => self.id.to_uppercase(),
            })
            .display_order(order)
            .help_heading(None::<&str>)
            .value_parser(parser);
        let a = match self.takes {
            Takes::Flag => a.action(ArgAction::SetTrue),
            Takes::One => a.action(ArgAction::Set),
            Takes::List => a.action(ArgAction::Append).value_delimiter(','),
        };
        match self.default {
            Some(d) => a.default_value(d),
            None => a,
        }
    }
}

/// A value an option takes: clap's parser for it, and the fast path's reading of one word
/// (`None` where it is not certain of clap's answer: clap then decides).
pub trait Word: Sized + Clone + Send + Sync + 'static {
    fn parser() -> clap::builder::ValueParser;
    fn from_word(s: &std::ffi::OsStr) -> Option<Self>;
    /// The value of an absent option without a default.
    fn absent() -> Option<Self> {
        None
    }
}

impl Word for String {
    fn parser() -> clap::builder::ValueParser {
        clap::builder::ValueParser::string()
    }
    fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
        s.to_str().map(str::to_string)
    }
}

impl Word for PathBuf {
    fn parser() -> clap::builder::ValueParser {
        clap::builder::ValueParser::path_buf()
    }
    fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
        Some(PathBuf::from(s))
    }
}

impl Word for bool {
    fn parser() -> clap::builder::ValueParser {
        BoolishValueParser::new().into()
    }
    fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
        match s.to_str()?.to_lowercase().as_str() {
            "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
            "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
            _ => None,
        }
    }
    fn absent() -> Option<Self> {
        Some(false)
    }
}

/// Numbers: decimal digits only on the fast path (clap also takes a sign).
macro_rules! number_words {
    ($($t:ty),*) => {$(
        impl Word for $t {
            fn parser() -> clap::builder::ValueParser {
                clap::value_parser!($t).into()
            }
            fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
                let s = s.to_str()?;
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse().ok()
            }
        }
    )*};
}
number_words!(u16, u32, u64, i32);

/// The shape of an option's field: one value, perhaps absent (`Option<T>`), a list
/// (`Vec<T>`), or a value that always has one (a default, or `false`).
pub trait Field: Sized {
    fn parser() -> clap::builder::ValueParser;
    /// From the words given (`None`: absent) and the default; `None` when a word is not
    /// one the fast path is certain of.
    fn fill(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<Self>;
    /// From clap's matches (typed by clap's own parser).
    fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error>;
}

fn last_or_default(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<OsString> {
    match given {
        Some(mut v) => v.pop(),
        None => default.map(OsString::from),
    }
}

impl<T: Word> Field for Option<T> {
    fn parser() -> clap::builder::ValueParser {
        T::parser()
    }
    fn fill(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<Self> {
        match last_or_default(given, default) {
            Some(w) => T::from_word(&w).map(Some),
            None => Some(None),
        }
    }
    fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error> {
        Ok(m.get_one::<T>(id).cloned())
    }
}

impl<T: Word> Field for Vec<T> {
    fn parser() -> clap::builder::ValueParser {
        T::parser()
    }
    fn fill(given: Option<Vec<OsString>>, _default: Option<&str>) -> Option<Self> {
        given
            .unwrap_or_default()
            .iter()
            .map(|w| T::from_word(w))
            .collect()
    }
    fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error> {
        Ok(m.get_many::<T>(id)
            .map(|v| v.cloned().collect())
            .unwrap_or_default())
    }
}

/// Fields that always hold a value.
macro_rules! plain_fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn parser() -> clap::builder::ValueParser {
                <$t as Word>::parser()
            }
            fn fill(given: Option<Vec<OsString>>, default: Option<&str>) -> Option<Self> {
                match last_or_default(given, default) {
                    Some(w) => <$t as Word>::from_word(&w),
                    None => <$t as Word>::absent(),
                }
            }
            fn from_matches(m: &clap::ArgMatches, id: &str) -> Result<Self, clap::Error> {
                m.get_one::<$t>(id).cloned().ok_or_else(|| {
                    clap::Error::raw(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        format!("option {id}: no value\n"),
                    )
                })
            }
        }
    )*};
}
plain_fields!(String, PathBuf, bool, u16, u64);

/// The option words of an enum (`clap::ValueEnum`), case-sensitive as clap reads them.
macro_rules! enum_words {
    ($($t:ty),*) => {$(
        impl Word for $t {
            fn parser() -> clap::builder::ValueParser {
                clap::builder::EnumValueParser::<$t>::new().into()
            }
            fn from_word(s: &std::ffi::OsStr) -> Option<Self> {
                <$t as clap::ValueEnum>::from_str(s.to_str()?, false).ok()
            }
        }
        plain_fields!($t);
    )*};
}
enum_words!(
    crate::landlock::Enforcement,
    crate::landlock::Volumes,
    crate::audit::Policy,
    crate::gpu::GpuMode,
    Format,
    LevelArg
);

pub(super) const COMMAND_HELP: &str =
    "The command to run (after `--`, or from the first argument that is not an option)";

/// The default of option `--long` (as the word it would be given).
pub fn default_of(long: &str) -> Option<&'static str> {
    RUN_OPTIONS.iter().find(|o| o.long == long)?.default
}

/// The reference's option table (docs/src/options.md, between its markers): one row per
/// option, from [`RUN_OPTIONS`]. A test keeps the file equal to it.
pub fn options_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut t =
        String::from("| option | variable | default | meaning |\n| --- | --- | --- | --- |\n");
    for o in RUN_OPTIONS {
        let value = match (o.takes, o.value_name) {
            (Takes::Flag, _) => String::new(),
            (_, Some(n)) => format!(" {n}"),
            // an enum's words, as `--help` lists them
            (_, None) => format!(
                " {}",
                (o.parser)()
                    .possible_values()
                    .map(|v| v
                        .map(|p| p.get_name().to_string())
                        .collect::<Vec<_>>()
                        .join("|"))
                    .unwrap_or_else(|| o.id.to_uppercase())
            ),
        };
        let default = match (o.default, o.shown, o.takes) {
            (Some(d), _, _) => format!("`{d}`"),
            (None, Some(s), _) => s.to_string(),
            (None, None, Takes::Flag) => "off".to_string(),
            (None, None, _) => "—".to_string(),
        };
        t.push_str(&format!(
            "| `--{}{}`{} | `{}` | {} | {} |\n",
            o.long,
            cell(&value),
            if o.takes == Takes::List {
                " (repeatable, comma list)"
            } else {
                ""
            },
            o.var,
            cell(&default),
            cell(&o.about.map(str::to_string).unwrap_or_else(|| o.help())),
        ));
    }
    t
}
