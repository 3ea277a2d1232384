//! The only room that touches UDP sockets: one mio event loop on its own thread that moves
//! datagrams between the network and the node's bounded channels.
//!
//! It holds no protocol logic. Inbound datagrams become [`NetEvent`]s on a bounded channel
//! (a full channel is a counted drop); outbound [`NetCommand`]s arrive on a bounded channel and
//! a [`mio::Waker`] wakes the loop. Send failures (a firewall's EPERM, ENETUNREACH, EAGAIN)
//! are counted and logged, never fatal, because one unreachable peer must not stop a node.
//!
//! Socket layout (see `sockets.rs`): a multicast socket bound to the group port with
//! SO_REUSEADDR/SO_REUSEPORT and joined on the configured interface, and a unicast socket on
//! the interface address that sends everything (multicast included, with IP_MULTICAST_IF set
//! explicitly, loop on, TTL 1) and receives direct replies. Because every datagram leaves from
//! the unicast socket, the `from` of any inbound datagram is the sender's reply address.

mod counters;
mod event_loop;
pub mod iface;
mod sockets;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

pub use counters::{NetCounters, NetStats};
pub use iface::{Interface, ResolvedInterface};

/// Largest datagram roost sends or accepts; the wire format promises frames of at most this
/// size so they never fragment on any LAN (IPv6 minimum MTU minus headers, with margin).
pub const MAX_DATAGRAM: usize = 1200;

/// Default multicast group: admin-scoped (RFC 2365 "IPv4 Local Scope" 239.255.0.0/16), so
/// routers never forward it off site, and unassigned by IANA inside that block.
pub const DEFAULT_GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);

/// Default group port: below the Linux ephemeral range (32768+), so an outgoing socket never
/// takes it by chance, and not used by a well-known LAN service.
pub const DEFAULT_PORT: u16 = 47777;

/// How many commands may wait for the loop; beyond that [`NetSender::send`] reports a drop.
pub const COMMAND_CAPACITY: usize = 1024;

/// Everything the network room needs to open its sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Multicast group and port of the network (IPv4 or IPv6).
    pub group: SocketAddr,
    /// Interface to join the group on and to send from.
    pub interface: Interface,
    /// Port of the unicast socket; 0 lets the kernel pick one.
    pub unicast_port: u16,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            group: SocketAddr::V4(SocketAddrV4::new(DEFAULT_GROUP_V4, DEFAULT_PORT)),
            interface: Interface::Default,
            unicast_port: 0,
        }
    }
}

/// Why the network room could not start (once running, it never fails: it counts).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The interface choice matches nothing on this host.
    #[error("network interface: {0}")]
    Interface(String),
    /// The configuration cannot work (e.g. the group is not a multicast address).
    #[error("network configuration: {0}")]
    Config(String),
    /// A socket call failed; `what` names the call or option.
    #[error("socket setup failed at {what}: {source}")]
    Socket {
        /// The system call or socket option that failed.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The event loop thread could not be started.
    #[error("cannot start the network thread: {0}")]
    Thread(std::io::Error),
    /// The loop has stopped, so the command cannot be delivered.
    #[error("the network thread has stopped")]
    Stopped,
    /// The command channel is full; the command was dropped (and counted).
    #[error("the network command queue is full; datagram dropped")]
    Full,
}

/// A datagram that arrived, handed to the node as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// One datagram of at most [`MAX_DATAGRAM`] bytes.
    Datagram {
        /// The sender's unicast socket address (where replies go).
        from: SocketAddr,
        /// The datagram's bytes.
        bytes: Vec<u8>,
        /// True when it came in on the group, false when sent directly to us.
        multicast: bool,
    },
}

/// Where an outgoing datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// To the network's group (every node, this host's other roost processes included).
    Multicast,
    /// To one node's unicast address.
    Unicast(SocketAddr),
}

/// What the node asks the network room to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCommand {
    /// Send one datagram (larger than [`MAX_DATAGRAM`] is refused and counted).
    Send {
        /// Destination.
        to: Dest,
        /// Bytes of one frame.
        bytes: Vec<u8>,
    },
    /// Stop the loop and close the sockets.
    Shutdown,
}

/// The cloneable sending side, for whoever produces outgoing datagrams (the node thread):
/// it pairs the bounded command channel with the waker, so a command is never left unseen.
#[derive(Clone)]
pub struct NetSender {
    tx: Sender<NetCommand>,
    waker: Arc<mio::Waker>,
    counters: Arc<NetCounters>,
}

impl NetSender {
    /// Queues a command without blocking and wakes the loop. A full queue is a counted drop
    /// ([`NetError::Full`]); a stopped loop is [`NetError::Stopped`].
    pub fn send(&self, cmd: NetCommand) -> Result<(), NetError> {
        match self.tx.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.counters.add(&self.counters.commands_dropped, 1);
                return Err(NetError::Full);
            }
            Err(TrySendError::Disconnected(_)) => return Err(NetError::Stopped),
        }
        self.waker.wake().map_err(|_| NetError::Stopped)
    }

    /// Shorthand for `send(NetCommand::Send { to, bytes })`.
    pub fn send_to(&self, to: Dest, bytes: Vec<u8>) -> Result<(), NetError> {
        self.send(NetCommand::Send { to, bytes })
    }
}

/// The running network room: how the runtime sends, reads counters, and shuts it down.
pub struct NetHandle {
    sender: NetSender,
    local: SocketAddr,
    group: SocketAddr,
    iface: ResolvedInterface,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NetHandle {
    /// A cloneable sender for the node thread.
    pub fn sender(&self) -> NetSender {
        self.sender.clone()
    }

    /// The address peers reply to (the unicast socket's bound address).
    pub fn local_unicast_addr(&self) -> SocketAddr {
        self.local
    }

    /// The group datagrams are sent to (with the IPv6 scope id filled in when needed).
    pub fn group_addr(&self) -> SocketAddr {
        self.group
    }

    /// The interface the sockets were set up on, for status output and logs.
    pub fn interface(&self) -> &ResolvedInterface {
        &self.iface
    }

    /// A snapshot of the counters, for `roost status` and tests.
    pub fn stats(&self) -> NetStats {
        self.sender.counters.snapshot()
    }

    /// The live counters, for a runtime that wants to read them from another thread.
    pub fn counters(&self) -> Arc<NetCounters> {
        self.sender.counters.clone()
    }

    /// Stops the loop and waits for it; the sockets are closed when this returns.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.sender.waker.wake();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("network thread panicked");
            }
        }
    }
}

impl Drop for NetHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Namespace for starting the network room.
pub struct Net;

impl Net {
    /// Opens and configures the sockets, joins the group, and starts the loop thread.
    ///
    /// When this returns `Ok`, the group is joined: datagrams sent to it from then on are
    /// received, so callers can wait on this instead of sleeping.
    pub fn spawn(cfg: NetConfig, inbound: Sender<NetEvent>) -> Result<NetHandle, NetError> {
        let iface = iface::resolve(&cfg.interface)?;
        let pair = sockets::build(cfg.group, &iface, cfg.unicast_port)?;
        let local = pair
            .unicast
            .local_addr()
            .map_err(|source| NetError::Socket {
                what: "getsockname",
                source,
            })?;
        let group = pair.group_dest;
        let (tx, rx): (Sender<NetCommand>, Receiver<NetCommand>) =
            crossbeam_channel::bounded(COMMAND_CAPACITY);
        let counters = Arc::new(NetCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let lp =
            event_loop::EventLoop::new(pair, local, rx, inbound, counters.clone(), stop.clone())?;
        let waker = lp.waker();
        let thread = std::thread::Builder::new()
            .name("roost-net".into())
            .spawn(move || lp.run())
            .map_err(NetError::Thread)?;
        tracing::info!(
            interface = %iface.name,
            %group,
            %local,
            "network room started"
        );
        Ok(NetHandle {
            sender: NetSender {
                tx,
                waker,
                counters,
            },
            local,
            group,
            iface,
            stop,
            thread: Some(thread),
        })
    }
}
