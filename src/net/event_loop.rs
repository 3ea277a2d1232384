//! The mio loop itself: sleeps in `poll` until a socket is readable or the waker fires, so an
//! idle node uses no CPU.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};

use super::counters::NetCounters;
use super::sockets::SocketPair;
use super::{Dest, NetCommand, NetError, NetEvent, MAX_DATAGRAM};

const MULTICAST: Token = Token(0);
const UNICAST: Token = Token(1);
const WAKER: Token = Token(2);

/// Larger than any accepted datagram, so an oversized one shows up as `n > MAX_DATAGRAM`
/// instead of being silently truncated to a plausible length.
const RECV_BUF: usize = 2048;

/// Owns the sockets and both channel ends for the lifetime of the loop thread.
pub struct EventLoop {
    poll: Poll,
    waker: Arc<Waker>,
    multicast: UdpSocket,
    unicast: UdpSocket,
    group: SocketAddr,
    local: SocketAddr,
    commands: Receiver<NetCommand>,
    inbound: Sender<NetEvent>,
    counters: Arc<NetCounters>,
    stop: Arc<AtomicBool>,
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> NetError {
    move |source| NetError::Socket { what, source }
}

/// Logs at warn on the 1st, 2nd, 4th, 8th ... occurrence and at debug otherwise, so a
/// firewall that blocks everything cannot flood the log.
fn warn_sparse(count: u64, msg: std::fmt::Arguments<'_>) {
    if count.is_power_of_two() {
        tracing::warn!("{msg} (occurrence {count})");
    } else {
        tracing::debug!("{msg}");
    }
}

fn same_endpoint(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

impl EventLoop {
    /// Registers the sockets and the waker with a fresh poll instance.
    pub fn new(
        pair: SocketPair,
        local: SocketAddr,
        commands: Receiver<NetCommand>,
        inbound: Sender<NetEvent>,
        counters: Arc<NetCounters>,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, NetError> {
        let poll = Poll::new().map_err(io("epoll_create"))?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(io("eventfd"))?);
        pair.multicast
            .set_nonblocking(true)
            .map_err(io("O_NONBLOCK"))?;
        pair.unicast
            .set_nonblocking(true)
            .map_err(io("O_NONBLOCK"))?;
        let mut multicast = UdpSocket::from_std(pair.multicast);
        let mut unicast = UdpSocket::from_std(pair.unicast);
        poll.registry()
            .register(&mut multicast, MULTICAST, Interest::READABLE)
            .map_err(io("epoll_ctl"))?;
        poll.registry()
            .register(&mut unicast, UNICAST, Interest::READABLE)
            .map_err(io("epoll_ctl"))?;
        Ok(EventLoop {
            poll,
            waker,
            multicast,
            unicast,
            group: pair.group_dest,
            local,
            commands,
            inbound,
            counters,
            stop,
        })
    }

    /// The waker handed to senders.
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// Runs until asked to stop, the command senders are all gone, or the node's inbound
    /// receiver is gone (nobody would read what arrives).
    pub fn run(mut self) {
        let mut events = Events::with_capacity(16);
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!("network loop poll failed, stopping: {e}");
                break;
            }
            let mut keep_going = true;
            for ev in events.iter() {
                match ev.token() {
                    MULTICAST => keep_going &= self.drain(true, &mut buf),
                    UNICAST => keep_going &= self.drain(false, &mut buf),
                    _ => {}
                }
            }
            // Commands are drained on every wake-up, not only on the waker token: cheap, and
            // robust to a wake coalesced with socket readiness.
            keep_going &= self.drain_commands();
            if !keep_going {
                break;
            }
        }
        tracing::info!("network room stopped");
    }

    /// Reads every pending datagram of one socket; false when the node has gone away.
    fn drain(&mut self, multicast: bool, buf: &mut [u8]) -> bool {
        let c = self.counters.clone();
        let mut errors_in_a_row = 0u32;
        loop {
            let sock = if multicast {
                &self.multicast
            } else {
                &self.unicast
            };
            let (n, from) = match sock.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    let k = c.add(&c.rx_errors, 1);
                    warn_sparse(k, format_args!("receive failed: {e}"));
                    // A queued ICMP error is consumed by the failed call, so reading on is
                    // right; a persistent error must not spin, so give up after a few.
                    errors_in_a_row += 1;
                    if errors_in_a_row >= 16 {
                        return true;
                    }
                    continue;
                }
            };
            if n > MAX_DATAGRAM {
                let k = c.add(&c.rx_oversized, 1);
                warn_sparse(
                    k,
                    format_args!("dropped oversized datagram ({n}+ bytes) from {from}"),
                );
                continue;
            }
            if multicast && same_endpoint(&from, &self.local) {
                c.add(&c.rx_own_echo, 1);
                continue;
            }
            let bytes = buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
            let ev = NetEvent::Datagram {
                from,
                bytes,
                multicast,
            };
            match self.inbound.try_send(ev) {
                Ok(()) => {
                    c.add(&c.rx_datagrams, 1);
                    c.add(&c.rx_bytes, n as u64);
                }
                Err(TrySendError::Full(_)) => {
                    let k = c.add(&c.rx_channel_full, 1);
                    warn_sparse(
                        k,
                        format_args!("node inbound channel full, datagram dropped"),
                    );
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::info!("node inbound channel closed");
                    return false;
                }
            }
        }
    }

    /// Executes queued commands; false when the loop must stop.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(NetCommand::Send { to, bytes }) => self.send(to, &bytes),
                Ok(NetCommand::Shutdown) => return false,
                Err(TryRecvError::Empty) => return true,
                // Every NetSender is gone: nothing more can ever be sent.
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn send(&mut self, to: Dest, bytes: &[u8]) {
        let c = &self.counters;
        if bytes.len() > MAX_DATAGRAM {
            let k = c.add(&c.tx_oversized, 1);
            warn_sparse(
                k,
                format_args!(
                    "refused to send a {} byte datagram (limit {MAX_DATAGRAM})",
                    bytes.len()
                ),
            );
            return;
        }
        let target = match to {
            Dest::Multicast => self.group,
            Dest::Unicast(a) => a,
        };
        loop {
            match self.unicast.send_to(bytes, target) {
                Ok(n) => {
                    c.add(&c.tx_datagrams, 1);
                    c.add(&c.tx_bytes, n as u64);
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    let k = c.add(&c.tx_errors, 1);
                    warn_sparse(k, format_args!("send to {target} failed: {e}"));
                    return;
                }
            }
        }
    }
}
