//! One private network namespace per test: the test binary re-executes itself, filtered to
//! the one test, under `unshare -rn`, so its multicast and sockets can neither leak off the
//! machine nor disturb a test running beside it. Shared by every test file that needs it
//! (included with `#[path]` where a file has no `mod support`).
#![allow(dead_code)]

use std::process::Command;

/// Set in the re-executed child: the test body runs here.
pub const MARK: &str = "ROOST_TEST_IN_NETNS";

/// True inside the re-executed child.
pub fn inside() -> bool {
    std::env::var_os(MARK).is_some()
}

/// True when the caller should run the test body now: inside the namespace, or on the host
/// when `unshare -rn` is unavailable (then the test uses the host's `lo`). False in the
/// parent once the child has run the test and passed; the parent checks that the child really
/// ran it ("1 passed"), so a typo in a name cannot silently skip a test. `setup` is a shell
/// command run inside the namespace first (e.g. `ip link set lo up`).
pub fn enter(test_name: &str, setup: &str) -> bool {
    if inside() {
        return true;
    }
    let usable = Command::new("unshare")
        .args(["-rn", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !usable {
        eprintln!("unshare -rn unavailable: running {test_name} on the host");
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let script = format!(
        "{setup} && exec \"$0\" --exact \"$1\" --include-ignored --nocapture --test-threads=1"
    );
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c", &script])
        .arg(exe)
        .arg(test_name)
        .env(MARK, "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "test {test_name} failed inside its network namespace"
    );
    assert!(
        stdout.contains("1 passed"),
        "the child did not run {test_name}"
    );
    false
}
