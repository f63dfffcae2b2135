//! Automatic TLS (`ironic_python_agent/tls_utils.py`): a fresh EC key and a self-signed
//! certificate whose only SubjectAltName is the advertise IP, served with rustls; the PEM goes
//! to the conductor in every heartbeat as `agent_verify_ca`, and the conductor verifies us
//! against it.

use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SanType, SerialNumber};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct AutoTls {
    pub cert_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Generates the key and certificate and writes them to `dir` (agent.crt, agent.key).
///
/// The signature is ECDSA with SHA-384 (IPA signs with SHA-512; `ring` offers P-384 only
/// with SHA-384, and the conductor's OpenSSL accepts both).
pub fn generate(
    ip: IpAddr,
    hostname: &str,
    curve: &str,
    clock_skew: Duration,
    min_version: &str,
    dir: &Path,
) -> Result<AutoTls, String> {
    let alg = match curve {
        "p256" => &rcgen::PKCS_ECDSA_P256_SHA256,
        "p384" => &rcgen::PKCS_ECDSA_P384_SHA384,
        other => {
            return Err(format!(
                "TLS certificate curve {other} is not supported; use p256 or p384"
            ))
        }
    };
    let key =
        KeyPair::generate_for(alg).map_err(|e| format!("cannot generate the TLS key: {e}"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, hostname);
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::IpAddress(ip)];
    params.is_ca = IsCa::NoCa;
    let serial: [u8; 16] = rand::random();
    params.serial_number = Some(SerialNumber::from_slice(&serial[..]));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - clock_skew;
    params.not_after = now + time::Duration::days(30);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the TLS certificate: {e}"))?;
    let cert_pem = cert.pem();
    let key_pem = key.serialize_pem();

    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(dir.join("agent.crt"), &cert_pem)
        .map_err(|e| format!("cannot write {}/agent.crt: {e}", dir.display()))?;
    write_private(&dir.join("agent.key"), key_pem.as_bytes())?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if min_version == "1.3" {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let der_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], der_key)
        .map_err(|e| format!("TLS server configuration: {e}"))?;
    Ok(AutoTls {
        cert_pem,
        server_config: Arc::new(server_config),
    })
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(data)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_has_the_ip_san_and_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let t = generate(
            ip,
            "agent-host",
            "p384",
            Duration::from_secs(3600),
            "1.3",
            dir.path(),
        )
        .unwrap();
        assert!(t.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let on_disk = std::fs::read_to_string(dir.path().join("agent.crt")).unwrap();
        assert_eq!(on_disk, t.cert_pem);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("agent.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The IP SAN is encoded as the 4 raw address bytes inside the DER.
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(t.cert_pem.as_bytes())
            .map(|c: CertificateDer| c.to_vec())
            .unwrap();
        assert!(der.windows(4).any(|w| w == [192, 0, 2, 10]));
        assert!(generate(ip, "h", "p521", Duration::ZERO, "1.3", dir.path()).is_err());
    }
}
