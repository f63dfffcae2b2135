//! LLDP: the frames the switch ports send, received on raw sockets and kept as IPA keeps
//! them, a list of `[tlv_type, "<hex of the value>"]` pairs per interface
//! (`ironic_python_agent/netutils.py: get_lldp_info`, `_parse_tlv`;
//! `hardware.py: GenericHardwareManager.collect_lldp_data`). The conductor's `parse-lldp` and
//! `local-link-connection` hooks decode the pairs.
//!
//! The wait is bounded by `ipa-lldp-timeout` (IPA's default 30 s) for all interfaces
//! together; an interface that received nothing by then is left out, as in IPA.
//!
//! Differences from IPA, on purpose: LLDP is received for inspection only
//! (`crate::inspection`); `poll.get_hardware_info` answers at once with `lldp: null`, where
//! IPA with `ipa-collect-lldp` waits up to the timeout inside that synchronous API call.
//! And instead of switching each interface to promiscuous mode
//! (a global flag IPA has to restore, and leaves set if it dies meanwhile), each socket joins
//! the LLDP multicast group `01:80:c2:00:00:0e` (`PACKET_ADD_MEMBERSHIP`), which the kernel
//! undoes when the socket closes.

use hwmgr::Host;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// EtherType of LLDP.
const ETH_P_LLDP: u16 = 0x88cc;
/// The nearest-bridge LLDP multicast address.
const LLDP_MULTICAST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];
/// IPA reads at most this much of a frame.
const MAX_FRAME: usize = 1600;

/// The TLVs of one frame: type and raw value.
pub type Tlvs = Vec<(u8, Vec<u8>)>;
/// What each interface received.
pub type LldpData = BTreeMap<String, Tlvs>;

/// The TLVs of an Ethernet frame carrying LLDP: the 14-byte header is skipped, then each
/// TLV is a 7-bit type, a 9-bit length and the value, up to the end of the frame (the End
/// TLV, type 0, included, as `_parse_tlv` keeps it). A frame shorter than its header has
/// none; a value cut short by the frame's end is kept as far as it goes.
pub fn parse_frame(frame: &[u8]) -> Tlvs {
    let Some(mut buf) = frame.get(14..) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while buf.len() >= 2 {
        let header = u16::from_be_bytes([buf[0], buf[1]]);
        let tlv_type = (header >> 9) as u8;
        let len = usize::from(header & 0x01ff);
        let end = (2 + len).min(buf.len());
        out.push((tlv_type, buf[2..end].to_vec()));
        buf = &buf[end..];
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One interface's TLVs as the inventory's `lldp` field: `[[type, "hex"], ...]`.
pub fn tlvs_json(tlvs: &Tlvs) -> Value {
    Value::Array(tlvs.iter().map(|(t, v)| json!([t, hex(v)])).collect())
}

/// Inspection's `lldp_raw`: `{"<interface>": [[type, "hex"], ...]}`.
pub fn lldp_raw_json(data: &LldpData) -> Value {
    Value::Object(
        data.iter()
            .map(|(name, tlvs)| (name.clone(), tlvs_json(tlvs)))
            .collect(),
    )
}

/// Listens on `names` for LLDP frames for at most `timeout` and returns the first frame's
/// TLVs of each interface that received one. Needs the real machine (raw sockets, root);
/// on a fake host root, or when no socket can be opened, it returns nothing at once. One
/// log line says what was received and what timed out.
pub fn collect(host: &Host, names: &[String], timeout: Duration) -> LldpData {
    if !host.is_real() || names.is_empty() {
        return LldpData::new();
    }
    let mut sockets: Vec<(String, raw::Socket)> = Vec::new();
    for name in names {
        match raw::Socket::open(name) {
            Ok(s) => sockets.push((name.clone(), s)),
            Err(e) => tracing::warn!("LLDP: cannot listen on {name}: {e}"),
        }
    }
    tracing::info!(
        interfaces = %names.join(","),
        timeout_s = timeout.as_secs_f64(),
        "waiting for LLDP frames"
    );
    let data = receive(sockets, timeout);
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !data.contains_key(*n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            "LLDP: nothing received within {timeout:?} on {}",
            missing.join(",")
        );
    }
    data
}

/// Polls the sockets until each received a frame or the time is up.
fn receive(mut sockets: Vec<(String, raw::Socket)>, timeout: Duration) -> LldpData {
    let deadline = Instant::now() + timeout;
    let mut data = LldpData::new();
    while !sockets.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ready = raw::poll_readable(sockets.iter().map(|(_, s)| s), left);
        if ready.is_empty() {
            break;
        }
        for i in ready.into_iter().rev() {
            let (name, sock) = sockets.remove(i);
            match sock.recv(MAX_FRAME) {
                Ok(frame) if frame.len() >= 14 => {
                    data.insert(name, parse_frame(&frame));
                }
                Ok(_) => sockets.push((name, sock)),
                Err(e) => tracing::warn!("LLDP: reading from {name} failed: {e}"),
            }
        }
    }
    data
}

/// The raw `AF_PACKET` socket, the only unsafe code of the inventory.
mod raw {
    use super::{ETH_P_LLDP, LLDP_MULTICAST};
    use std::ffi::CString;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    pub struct Socket(OwnedFd);

    fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    impl Socket {
        /// A raw socket bound to interface `name` for LLDP frames, member of the LLDP
        /// multicast group.
        pub fn open(name: &str) -> io::Result<Socket> {
            let cname =
                CString::new(name).map_err(|_| io::Error::other("interface name with NUL"))?;
            // SAFETY: plain libc calls on a C string we own.
            let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            if index == 0 {
                return Err(io::Error::last_os_error());
            }
            let proto = ETH_P_LLDP.to_be();
            // SAFETY: socket(2) with constant arguments; the fd is owned at once.
            let fd = check(unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::c_int::from(proto),
                )
            })?;
            // SAFETY: fd is a fresh descriptor nobody else owns.
            let sock = Socket(unsafe { OwnedFd::from_raw_fd(fd) });
            // SAFETY: a zeroed sockaddr_ll is valid; the fields set are plain integers.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = proto;
            addr.sll_ifindex = index as i32;
            // SAFETY: addr lives across the call and its size is passed.
            check(unsafe {
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            })?;
            // SAFETY: as above, for packet_mreq.
            let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mreq.mr_ifindex = index as i32;
            mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
            mreq.mr_alen = 6;
            mreq.mr_address[..6].copy_from_slice(&LLDP_MULTICAST);
            // SAFETY: mreq lives across the call and its size is passed.
            check(unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_PACKET,
                    libc::PACKET_ADD_MEMBERSHIP,
                    (&mreq as *const libc::packet_mreq).cast(),
                    std::mem::size_of::<libc::packet_mreq>() as u32,
                )
            })?;
            Ok(sock)
        }

        pub fn recv(&self, max: usize) -> io::Result<Vec<u8>> {
            let mut buf = vec![0u8; max];
            // SAFETY: buf is valid for max bytes.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    max,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            buf.truncate(n as usize);
            Ok(buf)
        }
    }

    /// Sends one raw frame out of interface `name` (tests: a frame on `lo` comes back).
    #[cfg(test)]
    pub fn send(name: &str, frame: &[u8]) -> io::Result<()> {
        let sock = Socket::open(name)?;
        let cname = CString::new(name).map_err(|_| io::Error::other("NUL"))?;
        // SAFETY: plain libc calls on values we own, sizes passed.
        unsafe {
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = ETH_P_LLDP.to_be();
            addr.sll_ifindex = libc::if_nametoindex(cname.as_ptr()) as i32;
            addr.sll_halen = 6;
            addr.sll_addr[..6].copy_from_slice(&LLDP_MULTICAST);
            check(libc::sendto(
                sock.0.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            ) as libc::c_int)?;
        }
        Ok(())
    }

    /// The indexes of the sockets with data, waiting at most `timeout` (empty on timeout or
    /// error).
    pub fn poll_readable<'a>(
        sockets: impl Iterator<Item = &'a Socket>,
        timeout: Duration,
    ) -> Vec<usize> {
        let mut fds: Vec<libc::pollfd> = sockets
            .map(|s| libc::pollfd {
                fd: s.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of fds.len() pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            return Vec::new();
        }
        fds.iter()
            .enumerate()
            .filter(|(_, p)| p.revents & libc::POLLIN != 0)
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An LLDP frame as a Cisco switch port sends it (chassis MAC, port `Gi1/0/7`, TTL 120,
    /// system name `sw1`, port VLAN 100, End), with its Ethernet header.
    fn frame() -> Vec<u8> {
        let mut f = vec![
            0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, // destination
            0x00, 0x1b, 0x54, 0xaa, 0xbb, 0xcc, // source
            0x88, 0xcc, // EtherType
        ];
        let tlvs: &[(u8, &[u8])] = &[
            (1, &[0x04, 0x00, 0x1b, 0x54, 0xaa, 0xbb, 0x80]),
            (2, b"\x05Gi1/0/7"),
            (3, &[0x00, 0x78]),
            (5, b"sw1"),
            (127, &[0x00, 0x80, 0xc2, 0x01, 0x00, 0x64]),
            (0, &[]),
        ];
        for (t, v) in tlvs {
            let h = (u16::from(*t) << 9) | v.len() as u16;
            f.extend(h.to_be_bytes());
            f.extend(*v);
        }
        f
    }

    #[test]
    fn tlvs_as_ipa_serializes_them() {
        let tlvs = parse_frame(&frame());
        assert_eq!(tlvs.len(), 6, "End TLV included: {tlvs:?}");
        assert_eq!(
            tlvs_json(&tlvs),
            json!([
                [1, "04001b54aabb80"],
                [2, "054769312f302f37"],
                [3, "0078"],
                [5, "737731"],
                [127, "0080c2010064"],
                [0, ""]
            ])
        );
        let data = LldpData::from([("eth0".to_string(), tlvs)]);
        assert_eq!(lldp_raw_json(&data)["eth0"][3], json!([5, "737731"]));
    }

    #[test]
    fn short_and_truncated_frames() {
        assert!(parse_frame(&[0u8; 10]).is_empty());
        let mut f = frame();
        f.truncate(14 + 2 + 3); // chassis id TLV cut after 3 of its 7 bytes
        assert_eq!(parse_frame(&f), vec![(1, vec![0x04, 0x00, 0x1b])]);
        f.push(0x02); // one trailing byte is no TLV header: ignored, as IPA does
        assert_eq!(parse_frame(&f).len(), 1);
    }

    /// The capture path for real, on this machine's loopback: a frame sent through a second
    /// packet socket reaches the listening one, within the bound. Needs CAP_NET_RAW (CI runs
    /// as root); without it, it says so and checks that the refusal costs no wait.
    #[test]
    fn receives_a_frame_on_loopback() {
        let host = Host::new("/");
        if let Err(e) = raw::Socket::open("lo") {
            eprintln!("no raw socket here ({e}): checking the refusal path only");
            let t = Instant::now();
            assert!(collect(&host, &["lo".into()], Duration::from_secs(30)).is_empty());
            assert!(t.elapsed() < Duration::from_secs(5));
            return;
        }
        let sender = std::thread::spawn(|| {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(100));
                raw::send("lo", &frame()).unwrap();
            }
        });
        let t = Instant::now();
        let got = collect(&host, &["lo".into()], Duration::from_secs(10));
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "returned once lo had a frame"
        );
        assert_eq!(got.get("lo"), Some(&parse_frame(&frame())));
        sender.join().unwrap();
        // Nothing arrives on a second listen: the bound ends it.
        let t = Instant::now();
        assert!(collect(&host, &["lo".into()], Duration::from_millis(300)).is_empty());
        assert!(t.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn fake_root_collects_nothing_without_waiting() {
        let d = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let got = collect(
            &Host::new(d.path()),
            &["eth0".into()],
            Duration::from_secs(30),
        );
        assert!(got.is_empty());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
