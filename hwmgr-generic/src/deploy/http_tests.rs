//! The image client against real servers on loopback: an https server with a self-signed
//! certificate (rustls), and a recording proxy that answers plain http requests itself and
//! tunnels `CONNECT` to the https server.

use super::*;
use crate::deploy::image_info;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const BODY: &[u8] = b"the image bytes";

fn settings() -> DeploySettings {
    DeploySettings {
        connection_retries: 2,
        retry_interval: Duration::from_millis(10),
        connection_timeout: Duration::from_secs(5),
        ..DeploySettings::default()
    }
}

/// `image_info` as the conductor sends it, plus `extra` keys (`proxies`, `no_proxy`).
fn info(extra: Value) -> ImageInfo {
    let mut v = json!({"id": "disk.img", "urls": ["http://127.0.0.1:1/disk.img"],
                       "os_hash_algo": "sha256", "os_hash_value": "00"});
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    image_info::parse(&v, false).unwrap()
}

/// Reads a request head (up to the empty line); returns its first line.
fn request_line(r: &mut impl BufRead) -> String {
    let mut first = String::new();
    let _ = r.read_line(&mut first);
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 2 {
        line.clear();
    }
    first.trim_end().to_string()
}

fn answer(w: &mut impl Write, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(head.as_bytes()).and_then(|_| w.write_all(body));
    let _ = w.flush();
}

/// A self-signed certificate for 127.0.0.1, as PEM and as a rustls server configuration.
fn certificate() -> (String, Arc<rustls::ServerConfig>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress([127, 0, 0, 1].into())];
    let cert = params.self_signed(&key).unwrap();
    let der_key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], der_key)
        .unwrap();
    (cert.pem(), Arc::new(config))
}

/// An https server answering every request with [`BODY`]; counts TCP connections.
struct TlsServer {
    port: u16,
    connections: Arc<Mutex<usize>>,
    cert_pem: String,
}

fn tls_server() -> TlsServer {
    let (cert_pem, config) = certificate();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let connections = Arc::new(Mutex::new(0));
    let count = connections.clone();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            *count.lock().unwrap() += 1;
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                request_line(&mut tls);
                answer(tls.get_mut(), BODY);
            });
        }
    });
    TlsServer {
        port,
        connections,
        cert_pem,
    }
}

/// A plain TCP server on loopback that records the first line of each request and hands
/// the rest of the connection to `handle` (with that line).
fn line_server(
    handle: impl Fn(BufReader<TcpStream>, &str) + Clone + Send + 'static,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let (log, handle) = (log.clone(), handle.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(tcp);
                let line = request_line(&mut r);
                log.lock().unwrap().push(line.clone());
                handle(r, &line);
            });
        }
    });
    (port, seen)
}

/// A plain http server answering every request with `body`.
fn http_server(body: &'static [u8]) -> (u16, Arc<Mutex<Vec<String>>>) {
    line_server(move |mut r, _| answer(r.get_mut(), body))
}

/// A forward proxy: plain http requests are answered by the proxy itself ("via proxy");
/// `CONNECT host:port` is tunnelled to that address.
fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let (port, seen) = line_server(|mut r, line| match line.strip_prefix("CONNECT ") {
        Some(rest) => tunnel(r.into_inner(), rest.split(' ').next().unwrap_or("")),
        None => answer(r.get_mut(), b"via proxy"),
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

fn tunnel(mut client: TcpStream, target: &str) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || std::io::copy(&mut c2, &mut s2));
    let _ = std::io::copy(&mut &server, &mut client);
    let _ = up.join();
}

fn body_of(client: &HttpClient, url: &str) -> std::result::Result<Vec<u8>, OpenError> {
    client.fetch_small(url, 1 << 20)
}

#[test]
fn an_untrusted_certificate_fails_at_once_and_says_how_to_fix_it() {
    let srv = tls_server();
    let url = format!("https://127.0.0.1:{}/disk.img", srv.port);
    let client = HttpClient::new(&settings(), &info(json!({}))).unwrap();
    let err = body_of(&client, &url).unwrap_err();
    let msg = err.message();
    for part in [
        format!("cannot reach {url}"),
        "certificate".to_string(),
        "not trusted".to_string(),
        "ipa-cafile=".to_string(),
        "ipa-insecure=1".to_string(),
    ] {
        assert!(msg.contains(&part), "{part:?} missing in {msg}");
    }
    assert_eq!(
        *srv.connections.lock().unwrap(),
        1,
        "a refused certificate is not retried against the same URL"
    );
}

#[test]
fn insecure_or_the_servers_ca_make_the_download_work() {
    let srv = tls_server();
    let url = format!("https://127.0.0.1:{}/disk.img", srv.port);
    let insecure = DeploySettings {
        insecure: true,
        ..settings()
    };
    let client = HttpClient::new(&insecure, &info(json!({}))).unwrap();
    assert_eq!(body_of(&client, &url).unwrap(), BODY);

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &srv.cert_pem).unwrap();
    let with_ca = DeploySettings {
        cafile: Some(ca),
        ..settings()
    };
    let client = HttpClient::new(&with_ca, &info(json!({}))).unwrap();
    assert_eq!(body_of(&client, &url).unwrap(), BODY);

    let bad = DeploySettings {
        cafile: Some(dir.path().join("missing.pem")),
        ..settings()
    };
    let e = HttpClient::new(&bad, &info(json!({}))).err().unwrap();
    assert!(
        e.details.contains("cannot read the CA file"),
        "{}",
        e.details
    );
}

#[test]
fn image_info_proxies_carry_the_request_and_no_proxy_bypasses_them() {
    let (origin, origin_seen) = http_server(b"direct");
    let (proxy, proxy_seen) = recording_proxy();
    let url = format!("http://127.0.0.1:{origin}/disk.img");
    let proxied = info(json!({"proxies": {"http": proxy}}));
    let client = HttpClient::new(&settings(), &proxied).unwrap();
    assert_eq!(body_of(&client, &url).unwrap(), b"via proxy");
    assert_eq!(
        *proxy_seen.lock().unwrap(),
        vec![format!("GET {url} HTTP/1.1")],
        "the proxy got the request in absolute form"
    );
    assert!(origin_seen.lock().unwrap().is_empty());

    let bypass = info(json!({"proxies": {"http": proxy}, "no_proxy": "example.org,127.0.0.1"}));
    let client = HttpClient::new(&settings(), &bypass).unwrap();
    assert_eq!(body_of(&client, &url).unwrap(), b"direct");
    assert_eq!(proxy_seen.lock().unwrap().len(), 1, "no_proxy bypasses it");
    assert_eq!(
        *origin_seen.lock().unwrap(),
        vec!["GET /disk.img HTTP/1.1".to_string()]
    );
}

#[test]
fn an_https_proxy_tunnels_to_the_image_server() {
    let srv = tls_server();
    let (proxy, proxy_seen) = recording_proxy();
    let url = format!("https://127.0.0.1:{}/disk.img", srv.port);
    // Only the `https` key applies to an https URL.
    let i = info(json!({"proxies": {"https": proxy, "http": "http://127.0.0.1:1"}}));
    let insecure = DeploySettings {
        insecure: true,
        ..settings()
    };
    let client = HttpClient::new(&insecure, &i).unwrap();
    assert_eq!(body_of(&client, &url).unwrap(), BODY);
    assert_eq!(
        *proxy_seen.lock().unwrap(),
        vec![format!("CONNECT 127.0.0.1:{} HTTP/1.1", srv.port)]
    );
}

#[test]
fn a_malformed_proxy_is_named() {
    let e = HttpClient::new(&settings(), &info(json!({"proxies": {"http": "::nope"}})))
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
    assert!(e.details.contains("'proxies.http'"), "{}", e.details);
}
