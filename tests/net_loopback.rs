//! Real-socket tests of the network room on the loopback interface.
//!
//! Each test that sends traffic runs in its own network namespace: the test re-executes its
//! own binary under `unshare -rn` (root or rootless) with only `lo` up, so nothing can leave
//! the machine and parallel tests of other crates cannot collide on the group port. Where
//! `unshare` is unavailable, the test runs on the host's `lo` with an explicit 127.0.0.1
//! interface (which still keeps every datagram on the machine).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use roost::net::{
    Dest, Interface, Net, NetCommand, NetConfig, NetError, NetEvent, NetHandle, NetStats,
    MAX_DATAGRAM,
};

#[path = "support/netns.rs"]
mod netns;

const MARK: &str = netns::MARK;
const WAIT: Duration = Duration::from_secs(5);

/// Returns true when the caller should run the test body here (inside a private namespace,
/// or on the host when namespaces are unavailable); false when a child already ran it.
fn in_private_netns(test_name: &str) -> bool {
    in_netns_with(test_name, "ip link set lo up")
}

/// Like [`in_private_netns`], with a shell `setup` run inside the namespace first.
fn in_netns_with(test_name: &str, setup: &str) -> bool {
    netns::enter(test_name, setup)
}

fn lo_config(port: u16) -> NetConfig {
    NetConfig {
        group: SocketAddr::from((Ipv4Addr::new(239, 255, 77, 77), port)),
        interface: Interface::Addr(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        unicast_port: 0,
    }
}

fn start(port: u16, capacity: usize) -> (NetHandle, Receiver<NetEvent>) {
    let (tx, rx) = bounded(capacity);
    let h = Net::spawn(lo_config(port), tx).unwrap();
    (h, rx)
}

fn recv(rx: &Receiver<NetEvent>) -> (SocketAddr, Vec<u8>, bool) {
    match rx.recv_timeout(WAIT) {
        Ok(NetEvent::Datagram {
            from,
            bytes,
            multicast,
        }) => (from, bytes, multicast),
        Err(e) => panic!("no datagram within {WAIT:?}: {e}"),
    }
}

fn wait_until(h: &NetHandle, what: &str, cond: impl Fn(&NetStats) -> bool) -> NetStats {
    let end = Instant::now() + WAIT;
    loop {
        let s = h.stats();
        if cond(&s) {
            return s;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {s:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn multicast_reaches_every_process_and_unicast_replies_return() {
    if !in_private_netns("multicast_reaches_every_process_and_unicast_replies_return") {
        return;
    }
    let (a, a_rx) = start(47701, 64);
    let (b, b_rx) = start(47701, 64);
    let (c, c_rx) = start(47701, 64);
    assert_eq!(a.local_unicast_addr().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(a.interface().name, "lo");

    a.sender()
        .send_to(Dest::Multicast, b"hello group".to_vec())
        .unwrap();
    for rx in [&b_rx, &c_rx] {
        let (from, bytes, multicast) = recv(rx);
        assert_eq!(from, a.local_unicast_addr());
        assert_eq!(bytes, b"hello group");
        assert!(multicast);
    }
    // The sender hears its own datagram through multicast loop and drops it, counted.
    wait_until(&a, "own echo", |s| s.rx_own_echo == 1);
    assert!(a_rx.try_recv().is_err());

    b.sender()
        .send_to(Dest::Unicast(a.local_unicast_addr()), b"direct".to_vec())
        .unwrap();
    let (from, bytes, multicast) = recv(&a_rx);
    assert_eq!(from, b.local_unicast_addr());
    assert_eq!(bytes, b"direct");
    assert!(!multicast);
    assert!(c_rx.try_recv().is_err(), "unicast leaked to another node");

    // Counters are bumped by the loop thread just after the channel hand-off: wait for them.
    let sa = wait_until(&a, "a's counters", |s| s.rx_datagrams == 1);
    assert_eq!(sa.tx_datagrams, 1);
    assert_eq!(sa.tx_bytes, 11);
    wait_until(&b, "b's counters", |s| {
        s.rx_datagrams == 1 && s.tx_datagrams == 1
    });
    wait_until(&c, "c's counters", |s| {
        s.rx_datagrams == 1 && s.tx_datagrams == 0
    });

    let sender = a.sender();
    a.shutdown();
    assert!(matches!(
        sender.send(NetCommand::Send {
            to: Dest::Multicast,
            bytes: vec![1]
        }),
        Err(NetError::Stopped)
    ));
    drop((b, c));
}

#[test]
fn oversized_datagrams_are_dropped_and_counted() {
    if !in_private_netns("oversized_datagrams_are_dropped_and_counted") {
        return;
    }
    let (a, a_rx) = start(47702, 64);
    let (_b, b_rx) = start(47702, 64);

    // Inbound: a raw socket sends one datagram over the limit and one at the limit.
    let raw = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    raw.send_to(&vec![7u8; MAX_DATAGRAM + 1], a.local_unicast_addr())
        .unwrap();
    raw.send_to(&vec![8u8; MAX_DATAGRAM], a.local_unicast_addr())
        .unwrap();
    let (_, bytes, _) = recv(&a_rx);
    assert_eq!(bytes.len(), MAX_DATAGRAM);
    assert_eq!(bytes.first(), Some(&8));
    wait_until(&a, "oversized count", |s| {
        s.rx_oversized == 1 && s.rx_datagrams == 1
    });

    // Outbound: the loop refuses to send over the limit.
    a.sender()
        .send_to(Dest::Multicast, vec![1u8; MAX_DATAGRAM + 1])
        .unwrap();
    a.sender().send_to(Dest::Multicast, vec![2u8; 10]).unwrap();
    let (_, bytes, _) = recv(&b_rx);
    assert_eq!(bytes, vec![2u8; 10]);
    wait_until(&a, "one refused, one sent", |s| {
        s.tx_oversized == 1 && s.tx_datagrams == 1
    });
}

#[test]
fn failed_sends_are_counted_and_the_loop_keeps_working() {
    if !in_private_netns("failed_sends_are_counted_and_the_loop_keeps_working") {
        return;
    }
    let (a, _a_rx) = start(47703, 64);
    let (b, b_rx) = start(47703, 64);
    let inside_namespace = std::env::var_os(MARK).is_some();

    // Broadcast without SO_BROADCAST: EACCES from the kernel, nothing leaves the host.
    a.sender()
        .send_to(
            Dest::Unicast(SocketAddr::from((Ipv4Addr::BROADCAST, 9))),
            vec![0],
        )
        .unwrap();
    let mut expected_errors = 1;
    if inside_namespace {
        // Only `lo` exists in the namespace: TEST-NET-1 has no route, ENETUNREACH.
        a.sender()
            .send_to(
                Dest::Unicast(SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 9))),
                vec![0],
            )
            .unwrap();
        expected_errors += 1;
    }
    wait_until(&a, "send errors", |s| s.tx_errors == expected_errors);

    a.sender()
        .send_to(
            Dest::Unicast(b.local_unicast_addr()),
            b"still alive".to_vec(),
        )
        .unwrap();
    let (_, bytes, _) = recv(&b_rx);
    assert_eq!(bytes, b"still alive");
    wait_until(&a, "one datagram sent", |s| s.tx_datagrams == 1);
}

#[test]
fn full_inbound_channel_is_a_counted_drop() {
    if !in_private_netns("full_inbound_channel_is_a_counted_drop") {
        return;
    }
    let (a, a_rx) = start(47704, 1);
    let raw = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    for i in 0..5u8 {
        raw.send_to(&[i], a.local_unicast_addr()).unwrap();
    }
    let s = wait_until(&a, "all five accounted for", |s| {
        s.rx_datagrams + s.rx_channel_full == 5
    });
    assert_eq!(s.rx_datagrams, 1);
    assert_eq!(s.rx_channel_full, 4);
    let (_, bytes, _) = recv(&a_rx);
    assert_eq!(bytes, vec![0]);
}

#[test]
fn bad_configurations_fail_at_spawn_with_clear_errors() {
    let (tx, _rx) = bounded(1);
    let mut cfg = lo_config(47705);
    cfg.group = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 47705));
    let e = Net::spawn(cfg, tx.clone()).err().unwrap();
    assert!(matches!(e, NetError::Config(_)), "{e}");
    assert!(e.to_string().contains("not an IPv4 multicast address"));

    let mut cfg = lo_config(47705);
    cfg.interface = Interface::Name("nosuchif0".into());
    let e = Net::spawn(cfg, tx.clone()).err().unwrap();
    assert!(e.to_string().contains("no network interface named"), "{e}");

    let mut cfg = lo_config(47705);
    cfg.interface = Interface::Addr("192.0.2.77".parse().unwrap());
    let e = Net::spawn(cfg, tx).err().unwrap();
    assert!(e.to_string().contains("no local network interface"), "{e}");
}

/// IPv6 multicast does not work on `lo`, so this test builds a veth pair inside its private
/// namespace and puts one node on each end.
#[test]
fn ipv6_multicast_over_a_veth_pair() {
    let setup = "ip link set lo up && ip link add r6a type veth peer name r6b \
                 && ip link set r6a up && ip link set r6b up \
                 && ip -6 addr add fd52::1/64 dev r6a nodad \
                 && ip -6 addr add fd52::2/64 dev r6b nodad";
    if std::env::var_os(MARK).is_none()
        && !Command::new("unshare")
            .args(["-rn", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    {
        eprintln!("unshare unavailable: skipping the IPv6 veth test (it needs its own namespace)");
        return;
    }
    if !in_netns_with("ipv6_multicast_over_a_veth_pair", setup) {
        return;
    }
    let group: SocketAddr = "[ff15::7777]:47706".parse().unwrap();
    let spawn = |ifname: &str| {
        let (tx, rx) = bounded(16);
        let cfg = NetConfig {
            group,
            interface: Interface::Name(ifname.into()),
            unicast_port: 0,
        };
        (Net::spawn(cfg, tx).unwrap(), rx)
    };
    let (a, a_rx) = spawn("r6a");
    let (b, b_rx) = spawn("r6b");
    assert_eq!(
        a.local_unicast_addr().ip(),
        "fd52::1".parse::<IpAddr>().unwrap()
    );

    a.sender()
        .send_to(Dest::Multicast, b"v6 hello".to_vec())
        .unwrap();
    let (from, bytes, multicast) = recv(&b_rx);
    assert_eq!(
        (from.ip(), from.port()),
        (a.local_unicast_addr().ip(), a.local_unicast_addr().port())
    );
    assert_eq!(bytes, b"v6 hello");
    assert!(multicast);

    b.sender()
        .send_to(Dest::Unicast(from), b"v6 reply".to_vec())
        .unwrap();
    let (_, bytes, multicast) = recv(&a_rx);
    assert_eq!(bytes, b"v6 reply");
    assert!(!multicast);
}

#[test]
fn default_interface_follows_the_default_route() {
    let setup = "ip link set lo up && ip link add rda type veth peer name rdb \
                 && ip link set rda up && ip link set rdb up \
                 && ip addr add 10.77.0.1/24 dev rda && ip route add default via 10.77.0.2";
    if std::env::var_os(MARK).is_none()
        && !Command::new("unshare")
            .args(["-rn", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    {
        eprintln!("unshare unavailable: skipping (the host's default route is not ours to use)");
        return;
    }
    if !in_netns_with("default_interface_follows_the_default_route", setup) {
        return;
    }
    let (tx, _rx) = bounded(4);
    let cfg = NetConfig {
        interface: Interface::Default,
        ..lo_config(47707)
    };
    let h = Net::spawn(cfg, tx).unwrap();
    assert_eq!(h.interface().name, "rda");
    assert_eq!(
        h.local_unicast_addr().ip(),
        IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1))
    );
}

#[test]
fn default_interface_without_a_default_route_is_a_clear_error() {
    if !in_private_netns("default_interface_without_a_default_route_is_a_clear_error") {
        return;
    }
    if std::env::var_os(MARK).is_none() {
        eprintln!("not in a private namespace: the host may have a default route; skipping");
        return;
    }
    let (tx, _rx) = bounded(4);
    let cfg = NetConfig {
        interface: Interface::Default,
        ..lo_config(47708)
    };
    let e = Net::spawn(cfg, tx).err().unwrap();
    assert!(e.to_string().contains("no IPv4 default route"), "{e}");
}

/// Not a check but a measurement (run with `--ignored --nocapture`): unicast round-trip time
/// through two network rooms and the CPU the loops use while idle.
#[test]
#[ignore]
fn measure_round_trip_and_idle_cpu() {
    if !in_private_netns("measure_round_trip_and_idle_cpu") {
        return;
    }
    let (a, a_rx) = start(47709, 1024);
    let (b, b_rx) = start(47709, 1024);
    let (a_tx, b_tx) = (a.sender(), b.sender());
    let echo = std::thread::spawn(move || {
        while let Ok(NetEvent::Datagram { from, bytes, .. }) = b_rx.recv_timeout(WAIT) {
            if bytes.is_empty() {
                break;
            }
            let _ = b_tx.send_to(Dest::Unicast(from), bytes);
        }
    });
    let mut rtts = Vec::new();
    let payload = vec![0x5a; 1000];
    for _ in 0..2000 {
        let t = Instant::now();
        a_tx.send_to(Dest::Unicast(b.local_unicast_addr()), payload.clone())
            .unwrap();
        recv(&a_rx);
        rtts.push(t.elapsed());
    }
    a_tx.send_to(Dest::Unicast(b.local_unicast_addr()), Vec::new())
        .unwrap();
    echo.join().unwrap();
    rtts.sort();
    let pct = |p: usize| rtts[rtts.len() * p / 100];
    println!(
        "unicast RTT, 1000-byte datagrams, 2000 round trips: p50 {:?}  p99 {:?}",
        pct(50),
        pct(99)
    );

    let cpu = || {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "idle CPU of two network rooms over 2 s: {:.3} ms",
        (cpu() - before) * 1e3
    );
}

/// The safety property behind IP_MULTICAST_IF and per-interface joins: a node's multicast
/// stays on its interface, and it hears nothing from other interfaces.
#[test]
fn multicast_stays_on_its_interface() {
    let setup = "ip link set lo up && ip link add ria type veth peer name rib \
                 && ip link set ria up && ip link set rib up \
                 && ip addr add 10.78.0.1/24 dev ria";
    if std::env::var_os(MARK).is_none()
        && !Command::new("unshare")
            .args(["-rn", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    {
        eprintln!("unshare unavailable: skipping (needs its own veth pair)");
        return;
    }
    if !in_netns_with("multicast_stays_on_its_interface", setup) {
        return;
    }
    let on = |iface: &str| {
        let (tx, rx) = bounded(16);
        let cfg = NetConfig {
            interface: Interface::parse(iface),
            ..lo_config(47710)
        };
        (Net::spawn(cfg, tx).unwrap(), rx)
    };
    let (lo1, lo1_rx) = on("lo");
    let (_lo2, lo2_rx) = on("127.0.0.1");
    let (veth, veth_rx) = on("ria");

    // The veth node hears its own datagram, so it would hear a leaked one from lo too.
    veth.sender()
        .send_to(Dest::Multicast, b"veth only".to_vec())
        .unwrap();
    wait_until(&veth, "own echo on the veth", |s| s.rx_own_echo >= 1);
    lo1.sender()
        .send_to(Dest::Multicast, b"lo only".to_vec())
        .unwrap();
    assert_eq!(recv(&lo2_rx).1, b"lo only");
    // Give a leaked copy time to arrive, then check that none did.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        lo2_rx.try_recv().is_err(),
        "veth traffic reached a node on lo"
    );
    assert!(
        lo1_rx.try_recv().is_err(),
        "veth traffic reached a node on lo"
    );
    assert!(veth_rx.try_recv().is_err(), "lo traffic reached the veth");
    assert_eq!(veth.stats().rx_datagrams, 0);
}
