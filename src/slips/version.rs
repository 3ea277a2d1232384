//! Finding the Slips version string that must be stamped into every message for Slips.
//!
//! Slips >= 1.1.20 drops every pub/sub message whose top-level `"version"` differs from the
//! contents of its `VERSION` file (with `"\n"` removed), silently (spec 0.1, A.8.1). A wrong
//! or missing version therefore disables the whole integration without an error, so roost
//! refuses to start in Slips mode without one.
//!
//! Lookup order (first hit wins):
//! 1. the `-slips-version` flag (or the config file's equivalent, passed in by the caller);
//! 2. the `ROOST_SLIPS_VERSION` environment variable;
//! 3. `/proc/<parent pid>/cwd/VERSION`: in drop-in mode the parent is the Slips module
//!    process, whose working directory is the Slips root;
//! 4. `<directory of our executable>/../VERSION`: the binary lives at
//!    `<slips root>/p2p4slips/p2p4slips`;
//! 5. `./VERSION` in our own working directory.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the file lookup.
pub const VERSION_ENV: &str = "ROOST_SLIPS_VERSION";

/// Longest version string accepted (Slips uses e.g. `1.1.21`).
const MAX_VERSION_LEN: usize = 64;

/// Why no usable Slips version was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// An explicit value (flag or environment) that is empty, too long or has control
    /// characters.
    #[error("invalid Slips version {0:?} (from {1})")]
    Invalid(String, &'static str),
    /// None of the places held a VERSION file.
    #[error("Slips VERSION file not found (tried {tried:?}); pass -slips-version or set ROOST_SLIPS_VERSION")]
    NotFound {
        /// The files that were tried, in order.
        tried: Vec<PathBuf>,
    },
}

/// Where the version came from, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// The command-line flag or config.
    Override,
    /// The environment variable.
    Env,
    /// A VERSION file.
    File(PathBuf),
}

/// The version text as Slips computes it from its VERSION file: every `"\n"` removed and
/// nothing else (a `\r` or a space would stay, and so must we). `None` if unusable.
pub fn version_from_file_text(text: &str) -> Option<String> {
    let v = text.replace('\n', "");
    valid(&v).then_some(v)
}

fn valid(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_VERSION_LEN && !v.chars().any(|c| c.is_control() && c != '\r')
}

/// The candidate VERSION files, in lookup order, for a given parent pid, executable path and
/// working directory (pure, so the order is testable).
pub fn candidate_files(
    parent_pid: Option<u32>,
    exe: Option<&Path>,
    cwd: Option<&Path>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(pid) = parent_pid.filter(|p| *p > 1) {
        out.push(PathBuf::from(format!("/proc/{pid}/cwd/VERSION")));
    }
    if let Some(root) = exe.and_then(Path::parent).and_then(Path::parent) {
        out.push(root.join("VERSION"));
    }
    if let Some(cwd) = cwd {
        out.push(cwd.join("VERSION"));
    }
    out
}

/// Resolves the version from an explicit override, the environment value and the candidate
/// files, reading files through `read` (so tests need no real /proc).
pub fn resolve(
    override_value: Option<&str>,
    env_value: Option<&str>,
    candidates: &[PathBuf],
    read: impl Fn(&Path) -> Option<String>,
) -> Result<(String, VersionSource), VersionError> {
    if let Some(v) = override_value {
        return if valid(v) {
            Ok((v.to_owned(), VersionSource::Override))
        } else {
            Err(VersionError::Invalid(
                v.chars().take(80).collect(),
                "-slips-version",
            ))
        };
    }
    if let Some(v) = env_value {
        return if valid(v) {
            Ok((v.to_owned(), VersionSource::Env))
        } else {
            Err(VersionError::Invalid(
                v.chars().take(80).collect(),
                VERSION_ENV,
            ))
        };
    }
    for path in candidates {
        if let Some(v) = read(path).as_deref().and_then(version_from_file_text) {
            return Ok((v, VersionSource::File(path.clone())));
        }
    }
    Err(VersionError::NotFound {
        tried: candidates.to_vec(),
    })
}

/// Finds the version on this machine: the override, then [`VERSION_ENV`], then the files of
/// [`candidate_files`] for this process.
pub fn find_slips_version(
    override_value: Option<&str>,
) -> Result<(String, VersionSource), VersionError> {
    // SAFETY: getppid has no preconditions and cannot fail.
    let ppid = u32::try_from(unsafe { libc::getppid() }).ok();
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let env = std::env::var(VERSION_ENV).ok();
    let candidates = candidate_files(ppid, exe.as_deref(), cwd.as_deref());
    resolve(override_value, env.as_deref(), &candidates, |p| {
        // VERSION files are a few bytes; refuse anything large.
        let meta = std::fs::metadata(p).ok()?;
        if meta.len() > 4096 {
            return None;
        }
        std::fs::read_to_string(p).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_text_like_python() {
        assert_eq!(
            version_from_file_text("1.1.21\n").as_deref(),
            Some("1.1.21")
        );
        assert_eq!(
            version_from_file_text("1.1.\n21").as_deref(),
            Some("1.1.21")
        );
        assert_eq!(
            version_from_file_text("1.1.21\r\n").as_deref(),
            Some("1.1.21\r")
        );
        assert_eq!(version_from_file_text("\n"), None);
        assert_eq!(version_from_file_text(&"9".repeat(100)), None);
    }

    #[test]
    fn lookup_order() {
        let c = candidate_files(
            Some(4242),
            Some(Path::new("/opt/slips/p2p4slips/p2p4slips")),
            Some(Path::new("/opt/slips/permanent/p2p_trust_runtime")),
        );
        assert_eq!(
            c,
            [
                PathBuf::from("/proc/4242/cwd/VERSION"),
                PathBuf::from("/opt/slips/VERSION"),
                PathBuf::from("/opt/slips/permanent/p2p_trust_runtime/VERSION"),
            ]
        );
        let read = |p: &Path| (p == Path::new("/opt/slips/VERSION")).then(|| "1.1.21\n".to_owned());
        assert_eq!(
            resolve(None, None, &c, read).unwrap(),
            (
                "1.1.21".into(),
                VersionSource::File("/opt/slips/VERSION".into())
            )
        );
        assert_eq!(
            resolve(None, Some("2.0"), &c, read).unwrap(),
            ("2.0".into(), VersionSource::Env)
        );
        assert_eq!(
            resolve(Some("3.0"), Some("2.0"), &c, read).unwrap(),
            ("3.0".into(), VersionSource::Override)
        );
        assert!(matches!(
            resolve(Some(""), None, &c, read),
            Err(VersionError::Invalid(..))
        ));
        assert_eq!(
            resolve(None, None, &c, |_| None),
            Err(VersionError::NotFound { tried: c.clone() })
        );
    }

    #[test]
    fn real_lookup_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("VERSION"), "1.1.21\n").unwrap();
        let c = candidate_files(None, None, Some(dir.path()));
        let (v, _) = resolve(None, None, &c, |p| std::fs::read_to_string(p).ok()).unwrap();
        assert_eq!(v, "1.1.21");
    }
}
