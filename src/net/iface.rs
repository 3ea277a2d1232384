//! Finding the local interface that multicast traffic must stay on.
//!
//! Multicast sent without an explicit interface follows the default route, which is how test
//! traffic leaks off a machine. Everything in `net` therefore resolves the operator's choice
//! (a name, an address, or "the interface of the default route") to one concrete interface
//! with its index and addresses before any socket is built.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::NetError;

/// How the operator names the interface roost lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interface {
    /// An interface name such as `eth0` or `lo`.
    Name(String),
    /// One of the addresses of the interface, e.g. `192.168.1.10` or `127.0.0.1`.
    Addr(IpAddr),
    /// The interface that carries the IPv4 default route (read from `/proc/net/route`).
    /// Chosen because it is the LAN a router or workstation normally faces; a host without
    /// a default route gets a clear error asking for an explicit interface.
    Default,
}

impl Interface {
    /// Reads the text form used in the config file and on the command line: empty or
    /// `default` means [`Interface::Default`], an IP address means [`Interface::Addr`], anything
    /// else is an interface name.
    pub fn parse(text: &str) -> Interface {
        let t = text.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("default") {
            Interface::Default
        } else if let Ok(ip) = t.parse::<IpAddr>() {
            Interface::Addr(ip)
        } else {
            Interface::Name(t.to_string())
        }
    }
}

impl std::fmt::Display for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interface::Name(n) => write!(f, "{n}"),
            Interface::Addr(a) => write!(f, "{a}"),
            Interface::Default => write!(f, "default"),
        }
    }
}

/// One concrete interface with what the socket options need: its index (IPv6 joins and
/// IPV6_MULTICAST_IF) and its first IPv4 / IPv6 address (IPv4 joins, IP_MULTICAST_IF, and
/// the unicast bind address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedInterface {
    /// Kernel name of the interface.
    pub name: String,
    /// Kernel index of the interface.
    pub index: u32,
    /// The IPv4 address used (the configured one when given by address).
    pub v4: Option<Ipv4Addr>,
    /// The IPv6 address used (the configured one when given by address).
    pub v6: Option<Ipv6Addr>,
}

/// One (name, address) pair reported by getifaddrs.
struct IfAddr {
    name: String,
    addr: IpAddr,
}

/// Lists every address of every interface through `getifaddrs(3)`.
fn list_addrs() -> Result<Vec<IfAddr>, NetError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(NetError::Interface(format!(
            "getifaddrs failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list returned by getifaddrs and not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null; its family tells which sockaddr layout it has.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        let addr = if family == libc::AF_INET {
            // SAFETY: AF_INET addresses are sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        } else if family == libc::AF_INET6 {
            // SAFETY: AF_INET6 addresses are sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
        } else {
            continue;
        };
        out.push(IfAddr { name, addr });
    }
    // SAFETY: head came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Kernel index of an interface name, through `if_nametoindex(3)`.
fn index_of(name: &str) -> Result<u32, NetError> {
    let c = CString::new(name)
        .map_err(|_| NetError::Interface(format!("interface name {name:?} contains NUL")))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(NetError::Interface(format!(
            "no network interface named {name:?}"
        )));
    }
    Ok(idx)
}

/// Name of the interface carrying the IPv4 default route, from `/proc/net/route` text.
fn default_route_iface(route_table: &str) -> Option<String> {
    route_table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let iface = cols.next()?;
        let dest = cols.next()?;
        let _gateway = cols.next()?;
        let flags = u32::from_str_radix(cols.next()?, 16).ok()?;
        // RTF_UP = 0x1; a default route has destination 0.0.0.0.
        (dest == "00000000" && flags & 0x1 != 0).then(|| iface.to_string())
    })
}

/// The first IPv4 address of the named interface.
fn first_v4(addrs: &[IfAddr], name: &str) -> Option<Ipv4Addr> {
    addrs.iter().find_map(|a| match a.addr {
        IpAddr::V4(v4) if a.name == name => Some(v4),
        _ => None,
    })
}

/// The first IPv6 address of the named interface, preferring a routable one over a
/// link-local one (which may still be tentative while duplicate detection runs).
fn first_v6(addrs: &[IfAddr], name: &str) -> Option<Ipv6Addr> {
    let mut all = addrs.iter().filter_map(|a| match a.addr {
        IpAddr::V6(v6) if a.name == name => Some(v6),
        _ => None,
    });
    let first = all.next()?;
    let link_local = |ip: &Ipv6Addr| (ip.segments()[0] & 0xffc0) == 0xfe80;
    if !link_local(&first) {
        return Some(first);
    }
    Some(all.find(|ip| !link_local(ip)).unwrap_or(first))
}

/// Resolves the operator's interface choice against the live system.
pub fn resolve(choice: &Interface) -> Result<ResolvedInterface, NetError> {
    let addrs = list_addrs()?;
    match choice {
        Interface::Name(name) => {
            let index = index_of(name)?;
            Ok(ResolvedInterface {
                name: name.clone(),
                index,
                v4: first_v4(&addrs, name),
                v6: first_v6(&addrs, name),
            })
        }
        Interface::Addr(ip) => {
            let owner = addrs.iter().find(|a| a.addr == *ip).ok_or_else(|| {
                NetError::Interface(format!("no local network interface has address {ip}"))
            })?;
            let name = owner.name.clone();
            let index = index_of(&name)?;
            let (v4, v6) = match ip {
                IpAddr::V4(v4) => (Some(*v4), first_v6(&addrs, &name)),
                IpAddr::V6(v6) => (first_v4(&addrs, &name), Some(*v6)),
            };
            Ok(ResolvedInterface {
                name,
                index,
                v4,
                v6,
            })
        }
        Interface::Default => {
            let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
            let name = default_route_iface(&table).ok_or_else(|| {
                NetError::Interface(
                    "no IPv4 default route to pick an interface from; set `net.interface` \
                     (or --interface) to the LAN interface name or address"
                        .to_string(),
                )
            })?;
            resolve(&Interface::Name(name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_text_forms() {
        assert_eq!(Interface::parse(""), Interface::Default);
        assert_eq!(Interface::parse("Default"), Interface::Default);
        assert_eq!(
            Interface::parse("127.0.0.1"),
            Interface::Addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(Interface::parse("eth0"), Interface::Name("eth0".into()));
    }

    #[test]
    fn default_route_is_found_in_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth1\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(default_route_iface(table), Some("eth0".to_string()));
        assert_eq!(default_route_iface("Iface\tDestination\n"), None);
    }

    #[test]
    fn loopback_resolves_by_name_and_address() {
        let by_name = resolve(&Interface::Name("lo".into())).unwrap();
        assert_eq!(by_name.v4, Some(Ipv4Addr::LOCALHOST));
        let by_addr = resolve(&Interface::Addr(IpAddr::V4(Ipv4Addr::LOCALHOST))).unwrap();
        assert_eq!(by_addr.name, "lo");
        assert_eq!(by_addr.index, by_name.index);
        assert!(resolve(&Interface::Name("no-such-if0".into())).is_err());
        assert!(resolve(&Interface::Addr("192.0.2.254".parse().unwrap())).is_err());
    }
}
