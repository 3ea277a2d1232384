//! Log files that rotate daily and keep a bounded number of past days.
//!
//! A router has little flash, and Slips rotates its own P2P logs daily keeping one past day;
//! roost's detailed log (`p2p.log`) and Slips-format report log (`p2p_reports.log`) do the
//! same. On the first write of a new UTC day the current file is renamed to
//! `NAME.YYYY-MM-DD` (the day it covers) and files older than `keep_days` past days are
//! deleted. Writes always append (`O_APPEND`), so a file truncated by someone else never
//! becomes sparse. A write error is returned to the caller, never a panic.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Days since the unix epoch (UTC) of a unix time in seconds.
fn day_of(unix_s: u64) -> u64 {
    unix_s / 86_400
}

/// The civil date (year, month, day) of a day number, UTC (Howard Hinnant's algorithm).
pub fn civil_from_days(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day number.
fn date_text(day: u64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Slips' log timestamp, `YYYY/MM/DD HH:MM:SS.ffffff`, of a unix time in microseconds (UTC).
pub fn slips_timestamp(unix_us: u64) -> String {
    let secs = unix_us / 1_000_000;
    let (y, m, d) = civil_from_days(day_of(secs));
    let sod = secs % 86_400;
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}.{:06}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        unix_us % 1_000_000
    )
}

struct Inner {
    path: PathBuf,
    keep_days: u32,
    file: Option<File>,
    day: Option<u64>,
}

/// An append-only file rotated at UTC midnight. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct DailyFile {
    inner: Arc<Mutex<Inner>>,
}

impl DailyFile {
    /// A rotating file at `path`, keeping `keep_days` past days beside it. Opens lazily.
    pub fn new(path: impl Into<PathBuf>, keep_days: u32) -> DailyFile {
        DailyFile {
            inner: Arc::new(Mutex::new(Inner {
                path: path.into(),
                keep_days,
                file: None,
                day: None,
            })),
        }
    }

    /// Where the current day's file is.
    pub fn path(&self) -> PathBuf {
        self.inner
            .lock()
            .map(|i| i.path.clone())
            .unwrap_or_default()
    }

    /// Appends bytes, rotating first if `now_s` is on a later day than the current file.
    pub fn write_at(&self, now_s: u64, bytes: &[u8]) -> io::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?;
        inner.rotate_if_needed(day_of(now_s))?;
        if inner.file.is_none() {
            inner.file = Some(open_append(&inner.path)?);
        }
        match inner.file.as_mut() {
            Some(f) => f.write_all(bytes),
            None => Ok(()),
        }
    }

    /// Appends one line in Slips' `p2p_reports.log` format: `<timestamp> - <text>\n`.
    pub fn slips_line(&self, unix_us: u64, text: &str) -> io::Result<()> {
        let line = format!("{} - {}\n", slips_timestamp(unix_us), text);
        self.write_at(unix_us / 1_000_000, line.as_bytes())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    OpenOptions::new().create(true).append(true).open(path)
}

impl Inner {
    fn rotate_if_needed(&mut self, today: u64) -> io::Result<()> {
        let file_day = match self.day {
            Some(d) => d,
            None => {
                // First use: the existing file (if any) belongs to the day it was last written.
                let modified = std::fs::metadata(&self.path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| day_of(d.as_secs()));
                self.day = Some(today);
                match modified {
                    Some(d) => d,
                    None => return Ok(()),
                }
            }
        };
        if file_day >= today {
            self.day = Some(today);
            return Ok(());
        }
        self.file = None;
        let rotated = self.rotated_name(file_day);
        if self.path.exists() {
            std::fs::rename(&self.path, &rotated)?;
        }
        self.day = Some(today);
        self.prune(today);
        Ok(())
    }

    fn rotated_name(&self, day: u64) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".");
        name.push(date_text(day));
        self.path.with_file_name(name)
    }

    /// Deletes rotated files older than `keep_days` past days.
    fn prune(&self, today: u64) {
        let (Some(dir), Some(base)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{}.", base.to_string_lossy());
        let oldest_kept = today.saturating_sub(u64::from(self.keep_days));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(date) = name.strip_prefix(&prefix) else {
                continue;
            };
            let keep = (oldest_kept..today).any(|d| date_text(d) == date);
            if !keep {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Seconds since the unix epoch, for callers that do not track time themselves.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The daemon's log sink: every record goes to stderr (the journal under systemd) and, when
/// configured, to a [`DailyFile`]. A failing file never silences stderr.
#[derive(Clone)]
pub struct TeeLog {
    file: Option<DailyFile>,
    stdout: bool,
}

impl TeeLog {
    /// Logs to stderr, and to `file` when given.
    pub fn new(file: Option<DailyFile>) -> TeeLog {
        TeeLog {
            file,
            stdout: false,
        }
    }

    /// Logs to stdout instead of stderr: in Pigeon mode Slips redirects the child's stdout to
    /// its `p2p.log` (or /dev/null) and shares its own stderr with the terminal.
    pub fn stdout_only() -> TeeLog {
        TeeLog {
            file: None,
            stdout: true,
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for TeeLog {
    type Writer = TeeWriter;

    fn make_writer(&'a self) -> TeeWriter {
        TeeWriter {
            file: self.file.clone(),
            stdout: self.stdout,
        }
    }
}

/// One log record's writer (see [`TeeLog`]).
pub struct TeeWriter {
    file: Option<DailyFile>,
    stdout: bool,
}

impl Write for TeeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = if self.stdout {
            io::stdout().write_all(buf)
        } else {
            io::stderr().write_all(buf)
        };
        if let Some(f) = &self.file {
            // The file is best effort: a full disk must not stop the daemon or its stderr.
            let _ = f.write_at(now_s(), buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(19_723), "2024-01-01");
        assert_eq!(date_text(11_016), "2000-02-29");
        assert_eq!(
            slips_timestamp(1_700_000_000_123_456),
            "2023/11/14 22:13:20.123456"
        );
    }

    #[test]
    fn rotates_daily_and_keeps_one_past_day() {
        let dir = tempfile::tempdir().unwrap();
        let log = DailyFile::new(dir.path().join("p2p.log"), 1);
        let day = 86_400;
        let t0 = 20_000 * day + 10;
        log.write_at(t0, b"day0\n").unwrap();
        log.write_at(t0 + 5, b"day0b\n").unwrap();
        log.write_at(t0 + day, b"day1\n").unwrap();
        log.write_at(t0 + 2 * day, b"day2\n").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["p2p.log", &format!("p2p.log.{}", date_text(20_001))]
        );
        let current = std::fs::read_to_string(dir.path().join("p2p.log")).unwrap();
        assert_eq!(current, "day2\n");
        let past =
            std::fs::read_to_string(dir.path().join(format!("p2p.log.{}", date_text(20_001))))
                .unwrap();
        assert_eq!(past, "day1\n");
    }

    #[test]
    fn slips_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = DailyFile::new(dir.path().join("sub/p2p_reports.log"), 1);
        log.slips_line(1_700_000_000_000_001, "hello").unwrap();
        let text = std::fs::read_to_string(dir.path().join("sub/p2p_reports.log")).unwrap();
        assert_eq!(text, "2023/11/14 22:13:20.000001 - hello\n");
    }
}
