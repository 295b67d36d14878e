//! Why a JobManager process could not start, or stopped serving: typed, so the CLI can name
//! the file, endpoint or identity at fault.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A JobManager that could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum JobManagerError {
    /// A file of the cluster directory could not be read.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The module store could not be opened.
    #[error(transparent)]
    Blobs(#[from] weir_blob::BlobError),
    /// The cluster's certificate authority or the JobManager's identity is missing or invalid
    /// (`weir cluster init` makes them).
    #[error("cluster identity: {0}")]
    Identity(#[from] weir_net::TlsError),
    /// An endpoint could not be bound, or stopped serving.
    #[error("the {endpoint} endpoint {address}: {source}")]
    Endpoint {
        /// `control` (QUIC, TaskManagers) or `REST` (HTTP, clients).
        endpoint: &'static str,
        /// Where.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A runtime or thread of the process could not start.
    #[error("cannot start {what}: {source}")]
    Start {
        /// Which.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}
