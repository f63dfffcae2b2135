//! Which address to put in the callback URL (`ironic_python_agent/agent.py:
//! IronicPythonAgent.set_agent_advertise_addr`): the configured host, else
//! the IPv4 address of `ipa-network-interface`, else the source address the kernel would use
//! to reach the Ironic API (what `ip route get` reports, found without running `ip`: a UDP
//! socket "connected" to the API host sends nothing but gets a routed local address).

use crate::config::Config;
use hwmgr::{Cmd, Runner};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

/// Host and port of an `http(s)://host[:port]/...` URL (the scheme's port when none is
/// given; an IPv6 host without its brackets).
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = match u.host()? {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    Some((host, u.port_or_known_default()?))
}

/// The local address used to reach `url`, if routable and not link-local.
pub fn source_address_for(url: &str) -> Option<IpAddr> {
    let (host, port) = url_host_port(url)?;
    let target: SocketAddr = (host.as_str(), port).to_socket_addrs().ok()?.next()?;
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(target).ok()?;
    let ip = sock.local_addr().ok()?.ip();
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.is_unspecified(),
    };
    (!link_local).then_some(ip)
}

/// The IPv4 address of a named interface, from `ip -4 -o addr show dev <if>`.
fn interface_ipv4(runner: &dyn Runner, iface: &str) -> Option<IpAddr> {
    let out = runner
        .run(&Cmd::new("ip").args(["-4", "-o", "addr", "show", "dev", iface]))
        .ok()?;
    out.stdout
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|a| a.parse().ok())
}

/// One discovery round; `None` means "try again later".
pub fn discover(config: &Config, runner: &dyn Runner, api_urls: &[String]) -> Option<String> {
    if let Some(h) = &config.advertise_host {
        return Some(h.clone());
    }
    if let Some(iface) = &config.network_interface {
        return interface_ipv4(runner, iface).map(|ip| ip.to_string());
    }
    api_urls
        .iter()
        .find_map(|u| source_address_for(u))
        .map(|ip| ip.to_string())
}

/// `<protocol>://<host>:<port>`, with brackets around an IPv6 host.
pub fn callback_url(protocol: &str, host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("{protocol}://[{host}]:{port}")
    } else {
        format!("{protocol}://{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            url_host_port("http://10.0.2.2:6385"),
            Some(("10.0.2.2".into(), 6385))
        );
        assert_eq!(
            url_host_port("https://ironic.example/v1"),
            Some(("ironic.example".into(), 443))
        );
        assert_eq!(
            url_host_port("http://[fd00::1]:6385/"),
            Some(("fd00::1".into(), 6385))
        );
        assert_eq!(
            url_host_port("http://user@ironic:1/x"),
            Some(("ironic".into(), 1))
        );
        assert_eq!(url_host_port("not a url"), None);
    }

    #[test]
    fn finds_the_loopback_source_for_a_loopback_api() {
        assert_eq!(
            source_address_for("http://127.0.0.1:6385"),
            Some("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn callback_urls() {
        assert_eq!(
            callback_url("https", "192.0.2.1", 9999),
            "https://192.0.2.1:9999"
        );
        assert_eq!(
            callback_url("http", "fd00::5", 9999),
            "http://[fd00::5]:9999"
        );
    }

    #[test]
    fn configured_host_wins() {
        let c = Config {
            advertise_host: Some("203.0.113.9".into()),
            ..Config::default()
        };
        let r = testkit::RecordingRunner::new();
        assert_eq!(
            discover(&c, &r, &["http://127.0.0.1:1".into()]).as_deref(),
            Some("203.0.113.9")
        );
        let c = Config {
            network_interface: Some("eth0".into()),
            ..Config::default()
        };
        r.on(
            &["ip", "-4", "-o", "addr"],
            "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\n",
        );
        assert_eq!(discover(&c, &r, &[]).as_deref(), Some("10.0.2.15"));
    }
}
