//! The Pigeon (p2p4slips) command line, parsed with Go `flag` package rules.
//!
//! Slips starts its P2P binary as
//! `p2p4slips -port P -host IP -key-file pigeon.keys --redis-db localhost:6379
//! -redis-channel-pygo p2p_pygo -redis-channel-gopy p2p_gopy` (spec A.2). clap cannot read
//! single-dash long options, so this small parser implements Go's rules: one or two dashes,
//! `-name value` or `-name=value`, booleans only take a value with `=`, parsing stops at the
//! first non-flag argument or after `--`, and an unknown flag is a usage error (exit code 2).

use std::fmt::Write;

/// Why the command line was refused. The caller prints the message and [`usage`] to
/// stderr and exits with [`PigeonArgsError::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PigeonArgsError {
    /// A flag this binary does not define.
    #[error("flag provided but not defined: -{0}")]
    Unknown(String),
    /// `---x`, `-=x` and similar.
    #[error("bad flag syntax: {0}")]
    BadSyntax(String),
    /// A string or integer flag at the end of the line, with no value.
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    /// A value that does not parse for the flag's type (or a port outside 0..=65535).
    #[error("invalid value {value:?} for flag -{flag}: {why}")]
    InvalidValue {
        /// The flag name.
        flag: String,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `-h` (not defined by Pigeon, so Go answers it with the usage and exit code 0).
    #[error("help requested")]
    HelpRequested,
}

impl PigeonArgsError {
    /// The process exit code Go's `flag.ExitOnError` uses: 0 for `-h`, 2 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            PigeonArgsError::HelpRequested => 0,
            _ => 2,
        }
    }
}

/// Every Pigeon flag, with Pigeon's defaults, plus roost's `-slips-version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PigeonArgs {
    /// `-rendezvous`: network name (Pigeon's mDNS service tag); default `slips`.
    pub rendezvous: String,
    /// `-host`: listen address; empty = unspecified.
    pub host: String,
    /// `-pid`: Pigeon's libp2p protocol id; accepted, informational only.
    pub pid: String,
    /// `-port`: listen port; default 4001.
    pub port: u16,
    /// `-key-file`: identity key file; empty = one-time key.
    pub key_file: String,
    /// `-key-reset`: create a new key even if the file exists.
    pub key_reset: bool,
    /// `-peerstore-file`: where known peers are saved; empty = not saved.
    pub peerstore_file: String,
    /// `-rename-with-port`: append the port to file and channel names.
    pub rename_with_port: bool,
    /// `-redis-db`: `host:port` of Redis (DB 0); default `localhost:6379`.
    pub redis_db: String,
    /// `-redis-delete`: accepted and ignored, as in Pigeon.
    pub redis_delete: bool,
    /// `-test`: Pigeon ran a self-test and exited 0.
    pub test: bool,
    /// `-redis-channel-pygo`: channel to subscribe to (Slips -> network).
    pub channel_pygo: String,
    /// `-redis-channel-gopy`: channel to publish on (network -> Slips).
    pub channel_gopy: String,
    /// `-help`: print help and exit 0.
    pub help: bool,
    /// `-slips-version` (roost only): the Slips version to stamp into every message, overriding
    /// the `VERSION` file lookup (see [`crate::slips::version`]).
    pub slips_version: Option<String>,
    /// Arguments after the flags (Pigeon ignores them).
    pub positional: Vec<String>,
}

impl Default for PigeonArgs {
    fn default() -> Self {
        PigeonArgs {
            rendezvous: "slips".into(),
            host: String::new(),
            pid: "/slips/1.0".into(),
            port: 4001,
            key_file: String::new(),
            key_reset: false,
            peerstore_file: String::new(),
            rename_with_port: false,
            redis_db: "localhost:6379".into(),
            redis_delete: false,
            test: false,
            channel_pygo: "p2p_pygo".into(),
            channel_gopy: "p2p_gopy".into(),
            help: false,
            slips_version: None,
            positional: Vec::new(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
}

/// (name, kind, help text for the usage listing).
const FLAGS: &[(&str, Kind, &str)] = &[
    ("help", Kind::Bool, "print this help and exit"),
    ("host", Kind::Str, "address to listen on"),
    (
        "key-file",
        Kind::Str,
        "identity key file (empty: a new key on every start)",
    ),
    (
        "key-reset",
        Kind::Bool,
        "replace the key in the key file with a new one",
    ),
    (
        "peerstore-file",
        Kind::Str,
        "file that keeps known peers across restarts (empty: not kept)",
    ),
    (
        "pid",
        Kind::Str,
        "protocol id (accepted for compatibility, not used) (default \"/slips/1.0\")",
    ),
    ("port", Kind::Int, "port to listen on (default 4001)"),
    (
        "redis-channel-gopy",
        Kind::Str,
        "channel on which messages for Slips are published (default \"p2p_gopy\")",
    ),
    (
        "redis-channel-pygo",
        Kind::Str,
        "channel on which Slips' requests are received (default \"p2p_pygo\")",
    ),
    (
        "redis-db",
        Kind::Str,
        "Redis host:port, database 0 (default \"localhost:6379\")",
    ),
    (
        "redis-delete",
        Kind::Bool,
        "accepted for compatibility, does nothing",
    ),
    (
        "rename-with-port",
        Kind::Bool,
        "append the port to file and channel names",
    ),
    (
        "rendezvous",
        Kind::Str,
        "network name shared by all peers that should meet (default \"slips\")",
    ),
    (
        "slips-version",
        Kind::Str,
        "Slips version stamped into messages (default: read from Slips' VERSION file)",
    ),
    (
        "test",
        Kind::Bool,
        "accepted for compatibility: exit 0 at once",
    ),
];

/// The usage text, in the layout of Go's `flag.PrintDefaults`.
pub fn usage(program: &str) -> String {
    let mut s = format!("Usage of {program}:\n");
    for (name, kind, help) in FLAGS {
        let ty = match kind {
            Kind::Str => " string",
            Kind::Int => " int",
            Kind::Bool => "",
        };
        let _ = writeln!(s, "  -{name}{ty}\n    \t{help}");
    }
    s
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then decimal, `0x` hex, `0o`/leading-0
/// octal or `0b` binary; underscores only between digits after a prefix are not supported.
fn parse_go_int(v: &str) -> Option<i64> {
    let (neg, rest) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

impl PigeonArgs {
    /// Parses the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<PigeonArgs, PigeonArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let mut out = PigeonArgs::default();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            if arg.len() < 2 || !arg.starts_with('-') {
                break; // first non-flag argument
            }
            i += 1;
            let mut body = &arg[1..];
            if let Some(b) = body.strip_prefix('-') {
                if b.is_empty() {
                    break; // "--" ends the flags and is consumed
                }
                body = b;
            }
            if body.starts_with('-') || body.starts_with('=') {
                return Err(PigeonArgsError::BadSyntax(arg.clone()));
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let Some((_, kind, _)) = FLAGS.iter().find(|(n, _, _)| *n == name) else {
                if name == "h" {
                    return Err(PigeonArgsError::HelpRequested);
                }
                return Err(PigeonArgsError::Unknown(name.to_owned()));
            };
            let value = match (kind, inline) {
                (Kind::Bool, None) => "true".to_owned(),
                (_, Some(v)) => v,
                (_, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        v.clone()
                    }
                    None => return Err(PigeonArgsError::MissingValue(name.to_owned())),
                },
            };
            out.set(name, *kind, value)?;
        }
        out.positional = args.get(i..).map(<[String]>::to_vec).unwrap_or_default();
        Ok(out)
    }

    fn set(&mut self, name: &str, kind: Kind, value: String) -> Result<(), PigeonArgsError> {
        let invalid = |why| PigeonArgsError::InvalidValue {
            flag: name.to_owned(),
            value: value.clone(),
            why,
        };
        match kind {
            Kind::Bool => {
                let b = parse_bool(&value).ok_or_else(|| invalid("parse error"))?;
                match name {
                    "key-reset" => self.key_reset = b,
                    "rename-with-port" => self.rename_with_port = b,
                    "redis-delete" => self.redis_delete = b,
                    "test" => self.test = b,
                    _ => self.help = b,
                }
            }
            Kind::Int => {
                let n = parse_go_int(&value).ok_or_else(|| invalid("parse error"))?;
                self.port = u16::try_from(n).map_err(|_| invalid("not a port number"))?;
            }
            Kind::Str => {
                let slot = match name {
                    "rendezvous" => &mut self.rendezvous,
                    "host" => &mut self.host,
                    "pid" => &mut self.pid,
                    "key-file" => &mut self.key_file,
                    "peerstore-file" => &mut self.peerstore_file,
                    "redis-db" => &mut self.redis_db,
                    "redis-channel-pygo" => &mut self.channel_pygo,
                    "redis-channel-gopy" => &mut self.channel_gopy,
                    _ => {
                        self.slips_version = Some(value);
                        return Ok(());
                    }
                };
                *slot = value;
            }
        }
        Ok(())
    }

    /// Applies `-rename-with-port` as Pigeon does: the port is appended to the non-empty
    /// key and peerstore file names and to both channel names.
    pub fn effective(&self) -> PigeonArgs {
        let mut c = self.clone();
        if c.rename_with_port {
            let p = c.port;
            if !c.key_file.is_empty() {
                c.key_file = format!("{}{p}", c.key_file);
            }
            if !c.peerstore_file.is_empty() {
                c.peerstore_file = format!("{}{p}", c.peerstore_file);
            }
            c.channel_gopy = format!("{}{p}", c.channel_gopy);
            c.channel_pygo = format!("{}{p}", c.channel_pygo);
        }
        c
    }

    /// Splits `-redis-db` into host and port (port 6379 when absent), as go-redis reads
    /// `Addr`. Bracketed IPv6 (`[::1]:6379`) is supported.
    pub fn redis_host_port(&self) -> Result<(String, u16), PigeonArgsError> {
        let invalid = |why| PigeonArgsError::InvalidValue {
            flag: "redis-db".into(),
            value: self.redis_db.clone(),
            why,
        };
        let s = self.redis_db.as_str();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '['"))?;
            match tail.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if tail.is_empty() => (h, None),
                None => return Err(invalid("garbage after ']'")),
            }
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                Some(_) => return Err(invalid("IPv6 addresses need brackets")),
                None => (s, None),
            }
        };
        let port = match port {
            None => 6379,
            Some(p) => p.parse::<u16>().map_err(|_| invalid("bad port"))?,
        };
        let host = if host.is_empty() { "localhost" } else { host };
        Ok((host.to_owned(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The argv Slips 1.1.21 builds (spec A.2, verified output of the argv builder).
    const SLIPS_ARGV: [&str; 12] = [
        "-port",
        "32769",
        "-host",
        "172.16.2.4",
        "-key-file",
        "pigeon.keys",
        "--redis-db",
        "localhost:6379",
        "-redis-channel-pygo",
        "p2p_pygo",
        "-redis-channel-gopy",
        "p2p_gopy",
    ];

    #[test]
    fn parses_slips_argv() {
        let a = PigeonArgs::parse(SLIPS_ARGV).unwrap();
        assert_eq!(a.port, 32769);
        assert_eq!(a.host, "172.16.2.4");
        assert_eq!(a.key_file, "pigeon.keys");
        assert_eq!(a.redis_db, "localhost:6379");
        assert_eq!(a.channel_pygo, "p2p_pygo");
        assert_eq!(a.channel_gopy, "p2p_gopy");
        assert_eq!(a.rendezvous, "slips");
        assert_eq!(a.pid, "/slips/1.0");
        assert!(!a.help && !a.test && !a.key_reset && !a.rename_with_port);
        assert_eq!(a.slips_version, None);
        assert!(a.positional.is_empty());
        assert_eq!(a.redis_host_port().unwrap(), ("localhost".into(), 6379));
        assert_eq!(a.effective(), a);
    }

    #[test]
    fn every_flag_in_every_spelling() {
        let a = PigeonArgs::parse([
            "--rendezvous=lab",
            "-host=10.0.0.1",
            "--pid",
            "/x/2",
            "-port=0x1f90",
            "--key-file",
            "k",
            "-key-reset",
            "-peerstore-file=ps.json",
            "--rename-with-port=true",
            "-redis-db",
            "[::1]:7000",
            "-redis-delete=T",
            "-test=0",
            "-redis-channel-pygo=in",
            "--redis-channel-gopy=out",
            "-help=false",
            "-slips-version",
            "1.1.21",
            "rest",
            "-port",
            "1",
        ])
        .unwrap();
        assert_eq!(a.rendezvous, "lab");
        assert_eq!(a.host, "10.0.0.1");
        assert_eq!(a.pid, "/x/2");
        assert_eq!(a.port, 8080);
        assert_eq!(a.key_file, "k");
        assert!(a.key_reset && a.rename_with_port && a.redis_delete);
        assert!(!a.test && !a.help);
        assert_eq!(a.peerstore_file, "ps.json");
        assert_eq!(a.redis_host_port().unwrap(), ("::1".into(), 7000));
        assert_eq!(a.slips_version.as_deref(), Some("1.1.21"));
        assert_eq!(a.positional, ["rest", "-port", "1"]);
        let e = a.effective();
        assert_eq!(
            (e.key_file.as_str(), e.peerstore_file.as_str()),
            ("k8080", "ps.json8080")
        );
        assert_eq!(
            (e.channel_pygo.as_str(), e.channel_gopy.as_str()),
            ("in8080", "out8080")
        );
    }

    #[test]
    fn go_flag_edge_cases() {
        // A bool flag does not consume the next argument; it becomes positional.
        let a = PigeonArgs::parse(["-test", "false"]).unwrap();
        assert!(a.test);
        assert_eq!(a.positional, ["false"]);
        // A string flag takes the next argument even if it looks like a flag.
        assert_eq!(PigeonArgs::parse(["-host", "-port"]).unwrap().host, "-port");
        // "--" ends parsing and is consumed; a lone "-" is positional.
        assert_eq!(PigeonArgs::parse(["--", "-x"]).unwrap().positional, ["-x"]);
        assert_eq!(
            PigeonArgs::parse(["-", "-x"]).unwrap().positional,
            ["-", "-x"]
        );
        // The last occurrence wins; octal and signs as in Go.
        assert_eq!(
            PigeonArgs::parse(["-port", "1", "-port=010"]).unwrap().port,
            8
        );
        assert_eq!(PigeonArgs::parse(["-port=+22"]).unwrap().port, 22);
        // Empty string values are allowed.
        assert_eq!(PigeonArgs::parse(["-key-file="]).unwrap().key_file, "");
    }

    #[test]
    fn errors_map_to_go_exit_codes() {
        let cases: [(&[&str], PigeonArgsError); 8] = [
            (&["-bogus"], PigeonArgsError::Unknown("bogus".into())),
            (&["--bogus=1"], PigeonArgsError::Unknown("bogus".into())),
            (
                &["---port", "1"],
                PigeonArgsError::BadSyntax("---port".into()),
            ),
            (&["-=x"], PigeonArgsError::BadSyntax("-=x".into())),
            (&["-port"], PigeonArgsError::MissingValue("port".into())),
            (
                &["-port", "abc"],
                PigeonArgsError::InvalidValue {
                    flag: "port".into(),
                    value: "abc".into(),
                    why: "parse error",
                },
            ),
            (
                &["-port", "70000"],
                PigeonArgsError::InvalidValue {
                    flag: "port".into(),
                    value: "70000".into(),
                    why: "not a port number",
                },
            ),
            (
                &["-test=yes"],
                PigeonArgsError::InvalidValue {
                    flag: "test".into(),
                    value: "yes".into(),
                    why: "parse error",
                },
            ),
        ];
        for (argv, want) in cases {
            let got = PigeonArgs::parse(argv.iter().copied()).unwrap_err();
            assert_eq!(got, want, "{argv:?}");
            assert_eq!(got.exit_code(), 2);
        }
        let h = PigeonArgs::parse(["-h"]).unwrap_err();
        assert_eq!(
            (h.clone(), h.exit_code()),
            (PigeonArgsError::HelpRequested, 0)
        );
        assert!(PigeonArgs::parse(["-help"]).unwrap().help);
        let u = usage("p2p4slips");
        assert!(u.starts_with("Usage of p2p4slips:\n  -help\n"));
        for (name, _, _) in FLAGS {
            assert!(u.contains(&format!("  -{name}")), "{name}");
        }
        assert!(u.contains("  -port int\n"));
    }

    #[test]
    fn redis_address_forms() {
        let hp = |s: &str| {
            PigeonArgs {
                redis_db: s.into(),
                ..PigeonArgs::default()
            }
            .redis_host_port()
        };
        assert_eq!(hp("127.0.0.1:32768").unwrap(), ("127.0.0.1".into(), 32768));
        assert_eq!(hp("redis").unwrap(), ("redis".into(), 6379));
        assert_eq!(hp(":6380").unwrap(), ("localhost".into(), 6380));
        assert!(hp("::1:6379").is_err());
        assert!(hp("host:notaport").is_err());
    }
}
