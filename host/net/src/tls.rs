//! Cluster identity: a cluster CA issues every JobManager and TaskManager certificate, and both
//! ends of every QUIC connection prove theirs (mutual TLS 1.3). A peer whose certificate does not
//! chain to the cluster CA, or does not name the identity it was dialled as, is refused.

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The ALPN protocol of Weir's QUIC connections.
pub const ALPN: &[u8] = b"weir/1";

/// Why TLS material could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("invalid TLS configuration: {0}")]
    Config(String),
    /// A certificate or key file could not be read or written.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// The cluster's certificate authority.
pub struct ClusterCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A node's certificate chain and key.
pub struct NodeIdentity {
    /// The identity the certificate names (also its DNS subject alternative name).
    pub name: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ClusterCa {
    /// A new CA with a fresh key.
    pub fn generate(cluster: &str) -> Result<Self, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("weir cluster CA {cluster}"));
        Ok(ClusterCa {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate()?)?,
        })
    }

    /// The CA certificate every node trusts.
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// Issues a certificate for the node `name`.
    pub fn issue(&self, name: &str) -> Result<NodeIdentity, TlsError> {
        let mut params = CertificateParams::new(vec![name.to_string()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(NodeIdentity {
            name: name.to_string(),
            chain: vec![certificate.der().clone(), self.certificate()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// The CA certificate as PEM.
    pub fn certificate_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's private key as PEM: whoever holds it can issue cluster certificates.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }
}

impl NodeIdentity {
    /// The certificate chain as PEM (node certificate first).
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|der| pem("CERTIFICATE", der))
            .collect()
    }

    /// The private key as PEM.
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", self.key.secret_der())
    }

    /// Reads identity `name` from `<dir>/<name>.pem` and `<dir>/<name>-key.pem`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, TlsError> {
        let (cert_path, key_path) = identity_paths(dir, name);
        let file_error = |path: &Path, e: &dyn std::fmt::Display| TlsError::File {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let chain = CertificateDer::pem_file_iter(&cert_path)
            .map_err(|e| file_error(&cert_path, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(&cert_path, &e))?;
        if chain.is_empty() {
            return Err(file_error(&cert_path, &"holds no certificate"));
        }
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| file_error(&key_path, &e))?;
        Ok(NodeIdentity {
            name: name.to_string(),
            chain,
            key,
        })
    }
}

/// Where identity `name` is kept in a cluster directory.
pub fn identity_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    )
}

/// Reads the cluster CA certificate from `<dir>/ca.pem`.
pub fn load_ca(dir: &Path) -> Result<CertificateDer<'static>, TlsError> {
    let path = dir.join("ca.pem");
    CertificateDer::from_pem_file(&path).map_err(|e| TlsError::File {
        path,
        detail: e.to_string(),
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &CertificateDer<'static>) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(roots))
}

/// QUIC transport settings for a data plane on fast links: larger windows, larger datagrams
/// (PROBES.md: quinn's defaults reach ≈ 0.17 of TCP on loopback, mostly from 1452-byte packets).
pub fn transport() -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(65_000);
    transport
        .max_concurrent_bidi_streams(1024u32.into())
        .stream_receive_window((8u32 << 20).into())
        .receive_window((64u32 << 20).into())
        .send_window(64 << 20)
        .mtu_discovery_config(Some(mtu))
        // GSO batches segments into one send of at most 64 KiB: with jumbo datagrams it loses
        // them, and MTU discovery falls back to 1200 bytes. Large datagrams save more.
        .enable_segmentation_offload(false)
        .keep_alive_interval(Some(Duration::from_secs(5)));
    Arc::new(transport)
}

/// Socket buffers of every QUIC endpoint: loopback and LAN bursts overflow the kernel's default
/// receive buffer and each lost datagram halves the congestion window (PROBES.md).
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

/// A QUIC endpoint on `address` with large socket buffers, serving `server` if given.
pub fn bind_endpoint(
    address: std::net::SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // The kernel may cap these (net.core.rmem_max); a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.bind(&address.into())?;
    // quinn caps datagrams at 1472 bytes unless told otherwise, whatever MTU discovery finds.
    let mut config = quinn::EndpointConfig::default();
    config
        .max_udp_payload_size(65_527)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    quinn::Endpoint::new(config, server, socket.into(), Arc::new(quinn::TokioRuntime))
}

/// The server side of `node`: requires a client certificate from the cluster CA.
pub fn server_config(
    ca: &CertificateDer<'static>,
    node: &NodeIdentity,
) -> Result<quinn::ServerConfig, TlsError> {
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider())
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(node.chain.clone(), node.key.clone_key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}

/// The client side of `node`: trusts only the cluster CA and presents `node`'s certificate.
pub fn client_config(
    ca: &CertificateDer<'static>,
    node: &NodeIdentity,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(node.chain.clone(), node.key.clone_key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}

/// Whether `error` ended a connection because a certificate was refused (by this end or the
/// peer): a TLS alert about a certificate or its issuer. Retrying will not help; a different
/// cluster CA or identity is the fix.
pub fn is_certificate_refusal(error: &quinn::ConnectionError) -> bool {
    // QUIC carries a TLS alert as transport error code 0x100 + alert (RFC 9001, 4.8).
    let code = match error {
        quinn::ConnectionError::TransportError(e) => e.code,
        quinn::ConnectionError::ConnectionClosed(close) => close.error_code,
        _ => return false,
    };
    let code = u64::from(code);
    // bad_certificate, unsupported_certificate, certificate_revoked, certificate_expired,
    // certificate_unknown, unknown_ca, access_denied, decrypt_error (what rustls sends for a
    // certificate signed by another CA), certificate_required (RFC 8446, 6).
    const CERTIFICATE_ALERTS: [u64; 9] = [42, 43, 44, 45, 46, 48, 49, 51, 116];
    (0x100..0x200).contains(&code) && CERTIFICATE_ALERTS.contains(&(code - 0x100))
}
