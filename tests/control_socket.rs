//! The control channel over a real unix socket in a temp dir, with a fake node thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use roost::control::server::NodeRequest;
use roost::control::{
    client, socket_path, ControlError, ControlHandle, ControlRequest, ControlResponse,
    ControlServer, ServerLimits, MAX_REQUEST_BYTES,
};
use serde_json::json;

const T: Duration = Duration::from_secs(5);

/// A node that answers every request with a JSON echo of what it understood.
fn fake_node(rx: Receiver<NodeRequest>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut n = 0;
        for (req, reply) in rx {
            n += 1;
            let resp = match req {
                ControlRequest::Status => ControlResponse::Ok(json!({
                    "id": "me", "network": "slips", "peers_active": 0,
                    "peers_known": 0, "mode": "off", "redis": "off"
                })),
                ControlRequest::Ask { ioc } if ioc == "bad" => {
                    ControlResponse::err("cannot tell what kind of indicator \"bad\" is")
                }
                ControlRequest::Ask { ioc } => ControlResponse::Ok(json!({
                    "ioc": ioc, "threat": null, "confidence": null, "answers": [],
                    "asked": 0, "answered": 0, "elapsed_ms": 1
                })),
                other => ControlResponse::Ok(serde_json::to_value(&other).unwrap()),
            };
            let _ = reply.send(resp);
        }
        n
    })
}

fn serve(dir: &Path, limits: ServerLimits) -> ControlHandle {
    let (tx, rx) = bounded(8);
    fake_node(rx);
    ControlServer::spawn_with(dir, tx, limits).unwrap()
}

fn raw_line(stream: &mut UnixStream, line: &[u8]) -> ControlResponse {
    stream.write_all(line).unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut answer = String::new();
    r.read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[test]
fn requests_round_trip_through_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let h = serve(dir.path(), ServerLimits::default());
    let mode = std::fs::metadata(socket_path(dir.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let r = client::call(dir.path(), &ControlRequest::Status, T).unwrap();
    let ControlResponse::Ok(v) = r else {
        panic!("{r:?}")
    };
    assert_eq!(v["network"], "slips");

    let r = client::call(
        dir.path(),
        &ControlRequest::Ask {
            ioc: "1.2.3.4".into(),
        },
        T,
    )
    .unwrap();
    assert_eq!(
        r,
        ControlResponse::Ok(json!({
            "ioc": "1.2.3.4", "threat": null, "confidence": null, "answers": [],
            "asked": 0, "answered": 0, "elapsed_ms": 1
        }))
    );
    let r = client::call(dir.path(), &ControlRequest::Ask { ioc: "bad".into() }, T).unwrap();
    assert!(matches!(r, ControlResponse::Err { message } if message.contains("\"bad\"")));
    let report = ControlRequest::Report {
        ioc: "domain:evil.example".into(),
        threat: 0.9,
        confidence: 0.5,
    };
    let r = client::call(dir.path(), &report, T).unwrap();
    assert_eq!(
        r,
        ControlResponse::Ok(json!({"cmd": "report", "ioc": "domain:evil.example",
                                   "threat": 0.9, "confidence": 0.5}))
    );
    assert_eq!(h.stats().requests, 4);
}

#[test]
fn request_and_response_json_forms_are_stable() {
    let cases = [
        (ControlRequest::Status, r#"{"cmd":"status"}"#),
        (ControlRequest::Peers, r#"{"cmd":"peers"}"#),
        (
            ControlRequest::Ask { ioc: "x".into() },
            r#"{"cmd":"ask","ioc":"x"}"#,
        ),
        (
            ControlRequest::Blame {
                ioc: "x".into(),
                threat: 1.0,
                confidence: 0.25,
            },
            r#"{"cmd":"blame","ioc":"x","threat":1.0,"confidence":0.25}"#,
        ),
        (
            ControlRequest::Opinion { ioc: "x".into() },
            r#"{"cmd":"opinion","ioc":"x"}"#,
        ),
        (ControlRequest::Shutdown, r#"{"cmd":"shutdown"}"#),
    ];
    for (req, text) in cases {
        assert_eq!(serde_json::to_string(&req).unwrap(), text);
        assert_eq!(serde_json::from_str::<ControlRequest>(text).unwrap(), req);
    }
    assert_eq!(
        serde_json::to_string(&ControlResponse::err("no")).unwrap(),
        r#"{"err":{"message":"no"}}"#
    );
    assert_eq!(
        serde_json::to_string(&ControlResponse::Ok(json!(1))).unwrap(),
        r#"{"ok":1}"#
    );
    assert!(
        serde_json::from_str::<ControlRequest>(r#"{"cmd":"ask","ioc":"x","extra":1}"#).is_err()
    );
}

#[test]
fn malformed_and_oversized_requests_get_errors_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let h = serve(dir.path(), ServerLimits::default());
    let mut s = UnixStream::connect(socket_path(dir.path())).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    for bad in [&b"{not json\n"[..], b"{\"cmd\":\"fly\"}\n", b"[1,2]\n"] {
        let r = raw_line(&mut s, bad);
        assert!(
            matches!(&r, ControlResponse::Err { message } if message.starts_with("malformed request")),
            "{r:?}"
        );
    }
    // The same connection still serves good requests after bad ones.
    let r = raw_line(&mut s, b"{\"cmd\":\"peers\"}\n");
    assert_eq!(r, ControlResponse::Ok(json!({"cmd": "peers"})));
    assert_eq!(h.stats().malformed, 3);

    let mut s = UnixStream::connect(socket_path(dir.path())).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut big = vec![b' '; MAX_REQUEST_BYTES + 10];
    big.push(b'\n');
    let r = raw_line(&mut s, &big);
    assert!(matches!(&r, ControlResponse::Err { message } if message.contains("larger than")));
    // ... and the connection is closed afterwards.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert_eq!(h.stats().oversized, 1);
}

#[test]
fn stale_socket_is_replaced_and_live_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A crashed daemon leaves its socket file behind: nobody accepts on it.
    drop(UnixListener::bind(socket_path(dir.path())).unwrap());
    assert!(socket_path(dir.path()).exists());
    let h = serve(dir.path(), ServerLimits::default());
    assert!(client::call(dir.path(), &ControlRequest::Peers, T).is_ok());

    let (tx, _rx) = bounded(1);
    let e = ControlServer::spawn(dir.path(), tx).err().unwrap();
    assert!(matches!(e, ControlError::AlreadyRunning(_)));
    assert_eq!(
        e.to_string(),
        format!(
            "another roost is running with data dir {}",
            dir.path().display()
        )
    );
    // The refused second server must not have removed the live socket.
    assert!(client::call(dir.path(), &ControlRequest::Peers, T).is_ok());

    h.shutdown();
    assert!(!socket_path(dir.path()).exists());
    let e = client::call(dir.path(), &ControlRequest::Status, T).unwrap_err();
    assert!(matches!(e, ControlError::NotRunning(_)));
    assert!(e
        .to_string()
        .contains(&format!("roost run --data-dir {}", dir.path().display())));

    // A plain file in the way is not silently deleted.
    std::fs::write(socket_path(dir.path()), b"hi").unwrap();
    let (tx, _rx) = bounded(1);
    let e = ControlServer::spawn(dir.path(), tx).err().unwrap();
    assert!(matches!(e, ControlError::NotASocket(_)), "{e}");
}

#[test]
fn missing_data_dir_is_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b");
    let h = serve(&data, ServerLimits::default());
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    drop(h);
    assert!(!socket_path(&data).exists());
}

#[test]
fn a_stuck_client_neither_blocks_others_nor_holds_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServerLimits {
        io_timeout: Duration::from_millis(1500),
        reply_timeout: T,
        max_clients: 1,
    };
    let h = serve(dir.path(), limits);
    let mut stuck = UnixStream::connect(socket_path(dir.path())).unwrap();
    stuck.write_all(b"{\"cmd\":").unwrap(); // and then nothing

    // With the only slot taken, a second client is refused at once, not queued.
    let started = Instant::now();
    let r = client::call(dir.path(), &ControlRequest::Status, T).unwrap();
    assert!(matches!(&r, ControlResponse::Err { message } if message.contains("too many")));
    // Queued behind the stuck client, it would have waited for the 1.5 s read timeout.
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(h.stats().refused_busy, 1);

    // The stuck connection is closed by the read timeout, freeing the slot.
    stuck.set_read_timeout(Some(T)).unwrap();
    let mut rest = Vec::new();
    let _ = stuck.read_to_end(&mut rest);
    let deadline = Instant::now() + T;
    loop {
        let r = client::call(dir.path(), &ControlRequest::Status, T).unwrap();
        if matches!(r, ControlResponse::Ok(_)) {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_silent_node_times_out_on_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = bounded::<NodeRequest>(8);
    // The node takes requests but never answers; keep the reply senders alive.
    let hold = std::thread::spawn(move || rx.iter().take(2).collect::<Vec<_>>());
    let limits = ServerLimits {
        io_timeout: T,
        reply_timeout: Duration::from_millis(200),
        max_clients: 4,
    };
    let h = ControlServer::spawn_with(dir.path(), tx, limits).unwrap();
    let r = client::call(dir.path(), &ControlRequest::Peers, T).unwrap();
    assert!(matches!(&r, ControlResponse::Err { message } if message.contains("did not answer")));
    assert_eq!(h.stats().node_timeouts, 1);

    let short = Duration::from_millis(50);
    let e = client::call(dir.path(), &ControlRequest::Peers, short).unwrap_err();
    assert!(matches!(e, ControlError::Timeout(d) if d == short), "{e}");
    drop(h);
    drop(hold);
}

#[test]
fn a_gone_node_is_an_error_response() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = bounded::<NodeRequest>(1);
    drop(rx);
    let _h = ControlServer::spawn(dir.path(), tx).unwrap();
    let r = client::call(dir.path(), &ControlRequest::Status, T).unwrap();
    assert_eq!(r, ControlResponse::err("the daemon is shutting down"));
}
