//! The CLI side of the control channel: one connection, one request, one response, with a
//! timeout and error messages that tell the operator what to do next.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{socket_path, ControlError, ControlRequest, ControlResponse, MAX_RESPONSE_BYTES};

/// Sends `req` to the daemon that uses `data_dir` and waits up to `timeout` for its answer.
///
/// For `ask`, pass a timeout longer than the daemon's ask deadline.
pub fn call(
    data_dir: &Path,
    req: &ControlRequest,
    timeout: Duration,
) -> Result<ControlResponse, ControlError> {
    let path = socket_path(data_dir);
    let stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
            ControlError::NotRunning(data_dir.to_path_buf())
        }
        ErrorKind::PermissionDenied => ControlError::PermissionDenied(path.clone()),
        _ => ControlError::Io {
            what: format!("cannot connect to {}", path.display()),
            source: e,
        },
    })?;
    let timeout = timeout.max(Duration::from_millis(1));
    let io = |what: &str| {
        let what = what.to_string();
        move |source| ControlError::Io { what, source }
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(io("set read timeout"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io("set write timeout"))?;
    let mut line = serde_json::to_vec(req)
        .map_err(|e| ControlError::Protocol(format!("cannot encode request: {e}")))?;
    line.push(b'\n');
    let mut writer = &stream;
    // A server that refuses the connection (too many clients) answers and closes at once,
    // possibly before the request is written: on a broken pipe, still read its answer.
    let write_error = match writer.write_all(&line) {
        Ok(()) => None,
        Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => Some(e),
        Err(e) => return Err(io("cannot send the request")(e)),
    };

    let mut reader = BufReader::new(&stream);
    let mut answer = Vec::new();
    let limit = (MAX_RESPONSE_BYTES + 1) as u64;
    match (&mut reader).take(limit).read_until(b'\n', &mut answer) {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            return Err(ControlError::Timeout(timeout))
        }
        Err(e) => return Err(io("cannot read the answer")(e)),
    }
    if answer.is_empty() {
        if let Some(e) = write_error {
            return Err(io("cannot send the request")(e));
        }
        return Err(ControlError::Protocol(
            "the daemon closed the connection without answering".into(),
        ));
    }
    if answer.len() > MAX_RESPONSE_BYTES {
        return Err(ControlError::Protocol(format!(
            "answer larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    serde_json::from_slice(&answer)
        .map_err(|e| ControlError::Protocol(format!("unreadable answer from the daemon: {e}")))
}
