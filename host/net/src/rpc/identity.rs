//! Which identity a QUIC peer proved. TLS already checked that the peer's certificate chains to
//! the cluster CA; a peer also claims a name (a TaskManager registering, a data connection from a
//! peer TaskManager), and the claim stands only if the certificate is valid for that name.

use rustls::pki_types::{CertificateDer, ServerName};

/// The certificate chain `connection`'s peer presented.
pub fn peer_certificates(connection: &quinn::Connection) -> Option<Vec<CertificateDer<'static>>> {
    connection
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()
        .map(|chain| *chain)
}

/// Whether `connection`'s peer holds a certificate issued for `name`.
pub fn peer_is(connection: &quinn::Connection, name: &str) -> bool {
    let Some(chain) = peer_certificates(connection) else {
        return false;
    };
    let Some(leaf) = chain.first() else {
        return false;
    };
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(leaf)
        .and_then(|cert| cert.verify_is_valid_for_subject_name(&server_name))
        .is_ok()
}
