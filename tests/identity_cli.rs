//! `roost keygen` and `roost id`, run as the real binary on real files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn roost(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("ROOST_DATA_DIR")
        .output()
        .expect("run roost")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn keygen_then_id_prints_the_same_peer_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let k = roost(&["keygen"], &data);
    assert!(k.status.success(), "{}", stderr(&k));
    let id1 = stdout(&k);
    assert_eq!(id1.len(), 24, "{id1}");
    let i = roost(&["id"], &data);
    assert!(i.status.success(), "{}", stderr(&i));
    assert_eq!(stdout(&i), id1);
    let j = roost(&["id", "--json"], &data);
    assert!(j.status.success(), "{}", stderr(&j));
    let v: serde_json::Value = serde_json::from_str(&stdout(&j)).expect("json");
    assert_eq!(v["peer_id"].as_str(), Some(id1.as_str()));
    assert_eq!(v["public_key"].as_str().map(str::len), Some(64));
    let mode = fs::metadata(data.join("identity.key"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn keygen_twice_is_refused_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = roost(&["keygen"], dir.path());
    assert!(first.status.success(), "{}", stderr(&first));
    let again = roost(&["keygen"], dir.path());
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(stdout(&roost(&["id"], dir.path())), stdout(&first));
    let forced = roost(&["keygen", "--force"], dir.path());
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(stdout(&forced), stdout(&first));
    assert_eq!(stdout(&roost(&["id"], dir.path())), stdout(&forced));
}

#[test]
fn tampered_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(roost(&["keygen"], dir.path()).status.success());
    let path = dir.path().join("identity.key");
    let text = fs::read_to_string(&path).expect("read");
    let line = text
        .lines()
        .find(|l| l.starts_with("public-key "))
        .expect("public-key line");
    let flipped = match line.strip_suffix('0') {
        Some(head) => format!("{head}1"),
        None => format!("{}0", &line[..line.len() - 1]),
    };
    fs::write(&path, text.replace(line, &flipped)).expect("write");
    let o = roost(&["id"], dir.path());
    assert!(!o.status.success());
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("tampered"), "{}", stderr(&o));

    fs::write(&path, "garbage\n").expect("write");
    let o = roost(&["id"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("corrupt"), "{}", stderr(&o));
}

#[test]
fn world_readable_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(roost(&["keygen"], dir.path()).status.success());
    let path = dir.path().join("identity.key");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = roost(&["id"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert!(stderr(&o).contains("0644"), "{}", stderr(&o));
}

#[test]
fn missing_identity_says_how_to_create_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = roost(&["id"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("roost keygen"), "{}", stderr(&o));
    // And nothing was created behind the operator's back.
    assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
}
