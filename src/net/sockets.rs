//! Building the two UDP sockets with the exact options the design requires.
//!
//! Kept apart from the event loop so every option is set in one place, in one order, with an
//! error that says which option failed: a wrong multicast option is silent in production
//! (traffic leaks to another interface or never arrives), so failures must be loud here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};

use super::iface::ResolvedInterface;
use super::NetError;

/// The pair of sockets a node uses, still blocking and unregistered.
pub struct SocketPair {
    /// Bound to the group port with SO_REUSEADDR/SO_REUSEPORT and joined to the group; only
    /// receives.
    pub multicast: std::net::UdpSocket,
    /// Bound to the interface address; sends everything and receives direct replies.
    pub unicast: std::net::UdpSocket,
    /// Where multicast datagrams are sent (carries the scope id for IPv6).
    pub group_dest: SocketAddr,
}

fn opt<T>(what: &'static str, r: std::io::Result<T>) -> Result<T, NetError> {
    r.map_err(|source| NetError::Socket { what, source })
}

/// Creates, configures and binds both sockets for `group` on `iface`.
pub fn build(
    group: SocketAddr,
    iface: &ResolvedInterface,
    unicast_port: u16,
) -> Result<SocketPair, NetError> {
    match group.ip() {
        IpAddr::V4(g) => build_v4(g, group.port(), iface, unicast_port),
        IpAddr::V6(g) => build_v6(g, group.port(), iface, unicast_port),
    }
}

fn build_v4(
    group: Ipv4Addr,
    port: u16,
    iface: &ResolvedInterface,
    unicast_port: u16,
) -> Result<SocketPair, NetError> {
    if !group.is_multicast() {
        return Err(NetError::Config(format!(
            "{group} is not an IPv4 multicast address (use 224.0.0.0/4, e.g. 239.255.77.77)"
        )));
    }
    let local = iface.v4.ok_or_else(|| {
        NetError::Interface(format!("interface {} has no IPv4 address", iface.name))
    })?;

    let m = opt(
        "socket(AF_INET)",
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)),
    )?;
    opt("SO_REUSEADDR", m.set_reuse_address(true))?;
    opt("SO_REUSEPORT", m.set_reuse_port(true))?;
    // Without this Linux delivers datagrams of every group joined by any socket on the host.
    opt("IP_MULTICAST_ALL", m.set_multicast_all_v4(false))?;
    // Binding to the group address filters out unicast traffic that happens to hit the port.
    opt(
        "bind(multicast group)",
        m.bind(&SocketAddr::from((group, port)).into()),
    )?;
    opt("IP_ADD_MEMBERSHIP", m.join_multicast_v4(&group, &local))?;
    set_v4_send_options(&m, local)?;

    let u = opt(
        "socket(AF_INET)",
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)),
    )?;
    set_v4_send_options(&u, local)?;
    opt(
        "bind(unicast)",
        u.bind(&SocketAddr::from((local, unicast_port)).into()),
    )?;

    Ok(SocketPair {
        multicast: m.into(),
        unicast: u.into(),
        group_dest: SocketAddr::from((group, port)),
    })
}

/// IP_MULTICAST_IF set explicitly so nothing leaves by another interface; loop on so several
/// roost processes on one host hear each other; TTL 1 so nothing crosses a router.
fn set_v4_send_options(s: &Socket, local: Ipv4Addr) -> Result<(), NetError> {
    opt("IP_MULTICAST_IF", s.set_multicast_if_v4(&local))?;
    opt("IP_MULTICAST_LOOP", s.set_multicast_loop_v4(true))?;
    opt("IP_MULTICAST_TTL", s.set_multicast_ttl_v4(1))?;
    Ok(())
}

fn build_v6(
    group: Ipv6Addr,
    port: u16,
    iface: &ResolvedInterface,
    unicast_port: u16,
) -> Result<SocketPair, NetError> {
    if !group.is_multicast() {
        return Err(NetError::Config(format!(
            "{group} is not an IPv6 multicast address (use ff02::/16 or ff15::/16 ...)"
        )));
    }
    let local = iface.v6.ok_or_else(|| {
        NetError::Interface(format!("interface {} has no IPv6 address", iface.name))
    })?;
    let index = iface.index;
    let scope = |ip: &Ipv6Addr| {
        if (ip.segments()[0] & 0xffc0) == 0xfe80 || (ip.segments()[0] & 0xff0f) == 0xff02 {
            index
        } else {
            0
        }
    };

    let m = opt(
        "socket(AF_INET6)",
        Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)),
    )?;
    opt("IPV6_V6ONLY", m.set_only_v6(true))?;
    opt("SO_REUSEADDR", m.set_reuse_address(true))?;
    opt("SO_REUSEPORT", m.set_reuse_port(true))?;
    opt("IPV6_MULTICAST_ALL", m.set_multicast_all_v6(false))?;
    opt(
        "bind(multicast group)",
        m.bind(&SocketAddr::V6(SocketAddrV6::new(group, port, 0, scope(&group))).into()),
    )?;
    opt("IPV6_ADD_MEMBERSHIP", m.join_multicast_v6(&group, index))?;
    set_v6_send_options(&m, index)?;

    let u = opt(
        "socket(AF_INET6)",
        Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)),
    )?;
    opt("IPV6_V6ONLY", u.set_only_v6(true))?;
    set_v6_send_options(&u, index)?;
    opt(
        "bind(unicast)",
        u.bind(&SocketAddr::V6(SocketAddrV6::new(local, unicast_port, 0, scope(&local))).into()),
    )?;

    Ok(SocketPair {
        multicast: m.into(),
        unicast: u.into(),
        group_dest: SocketAddr::V6(SocketAddrV6::new(group, port, 0, scope(&group))),
    })
}

/// The IPv6 twin of [`set_v4_send_options`]: interface by index, loop on, one hop.
fn set_v6_send_options(s: &Socket, index: u32) -> Result<(), NetError> {
    opt("IPV6_MULTICAST_IF", s.set_multicast_if_v6(index))?;
    opt("IPV6_MULTICAST_LOOP", s.set_multicast_loop_v6(true))?;
    opt("IPV6_MULTICAST_HOPS", s.set_multicast_hops_v6(1))?;
    Ok(())
}
