//! One blocking connection to a broker: the API versions it supports, and request/response
//! frames in the version each call picks, bounded by the call's deadline.

use super::{MAX_RESPONSE_BYTES, TxnError};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

/// One connection to a broker, with the API versions that broker supports.
pub(crate) struct Conn {
    /// The blocking socket; its read and write timeouts are set before each use to what is left
    /// of the call's timeout.
    stream: TcpStream,
    /// The `host:port` it was opened to, for error messages and to recognise the coordinator.
    pub(crate) address: String,
    /// The client id of each request header.
    client_id: StrBytes,
    /// When the call this connection serves must have finished.
    deadline: Instant,
    /// The correlation id of the next request.
    next_correlation_id: i32,
    /// `(api key, min version, max version)` as the broker's `ApiVersions` answer lists them.
    api_versions: Vec<(i16, i16, i16)>,
}

impl Conn {
    /// Connects to `address` (each address it resolves to, in turn) and asks the broker for
    /// its API versions, so that each request is sent in a version it understands.
    ///
    /// Name resolution has no timeout in the standard library: a hung resolver can hold the
    /// call past its deadline, which the sink's bootstrap and advertised addresses (IPs or
    /// names in a local resolver) make unlikely.
    pub(crate) fn open(
        address: &str,
        client_id: &str,
        deadline: Instant,
    ) -> Result<Conn, TxnError> {
        let connect_error = |source| TxnError::Connect {
            address: address.to_owned(),
            source,
        };
        let resolved = address.to_socket_addrs().map_err(connect_error)?;
        let mut last_error =
            io::Error::new(io::ErrorKind::NotFound, "the address resolved to nothing");
        let mut stream = None;
        for socket_address in resolved {
            let timeout = remaining(deadline).map_err(connect_error)?;
            match TcpStream::connect_timeout(&socket_address, timeout) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last_error = error,
            }
        }
        let stream = stream.ok_or_else(|| connect_error(last_error))?;
        // Requests are small and each waits for its answer: Nagle's delay would only add latency.
        stream.set_nodelay(true).map_err(connect_error)?;
        let mut conn = Conn {
            stream,
            address: address.to_owned(),
            client_id: StrBytes::from_string(client_id.to_owned()),
            deadline,
            next_correlation_id: 1,
            api_versions: Vec::new(),
        };
        // v0 is understood by every broker since Kafka 0.10 and needs no flexible header.
        let response: ApiVersionsResponse =
            conn.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
        if response.error_code != 0 {
            return Err(TxnError::broker("ApiVersions", response.error_code, None));
        }
        conn.api_versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        Ok(conn)
    }

    /// Whether the broker supports some version of `key`.
    pub(crate) fn supports(&self, key: ApiKey) -> bool {
        self.api_versions
            .iter()
            .any(|(api_key, _, _)| *api_key == key as i16)
    }

    /// The highest version of `key` within `min..=max` (the versions this client can speak)
    /// that the broker supports.
    pub(crate) fn version(&self, key: ApiKey, min: i16, max: i16) -> Result<i16, TxnError> {
        let supported = self
            .api_versions
            .iter()
            .find(|(api_key, _, _)| *api_key == key as i16);
        match supported {
            Some(&(_, broker_min, broker_max)) if broker_min.max(min) <= broker_max.min(max) => {
                Ok(broker_max.min(max))
            }
            Some(&(_, broker_min, broker_max)) => Err(TxnError::Protocol(format!(
                "broker {} supports {key:?} versions {broker_min}..={broker_max}, \
                 this client {min}..={max}",
                self.address
            ))),
            None => Err(TxnError::Protocol(format!(
                "broker {} does not support {key:?}",
                self.address
            ))),
        }
    }

    /// Sends `request` as version `version` of `key` and reads its response: a frame of a
    /// 4-byte big-endian size, then the header (v1 for requests that are not flexible, v2 for
    /// flexible ones; responses v0 or v1 likewise, as kafka-protocol's `header_version` says),
    /// then the body.
    pub(crate) fn call<Req, Resp>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, TxnError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let encode_error = |e: &dyn std::fmt::Display| {
            TxnError::Protocol(format!("cannot encode {key:?} v{version}: {e}"))
        };
        let mut frame = BytesMut::new();
        frame.put_i32(0); // the size, filled in below
        header
            .encode(&mut frame, Req::header_version(version))
            .map_err(|e| encode_error(&e))?;
        request
            .encode(&mut frame, version)
            .map_err(|e| encode_error(&e))?;
        let size = i32::try_from(frame.len() - 4)
            .map_err(|_| TxnError::Protocol(format!("{key:?} request too large")))?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.write_all(&frame)?;

        let mut size = [0; 4];
        self.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        if !(4..=MAX_RESPONSE_BYTES).contains(&size) {
            return Err(TxnError::Protocol(format!(
                "{key:?} response from {} has size {size}",
                self.address
            )));
        }
        let mut body = vec![0; size as usize];
        self.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let response_header: ResponseHeader = decode(&mut body, Resp::header_version(version))
            .map_err(|e| TxnError::Protocol(format!("{key:?} response header: {e}")))?;
        if response_header.correlation_id != correlation_id {
            return Err(TxnError::Protocol(format!(
                "{key:?} response from {} has correlation id {}, expected {correlation_id}",
                self.address, response_header.correlation_id
            )));
        }
        decode(&mut body, version)
            .map_err(|e| TxnError::Protocol(format!("{key:?} v{version} response: {e}")))
    }

    /// Writes all of `bytes` before the deadline.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), TxnError> {
        let result = remaining(self.deadline)
            .and_then(|timeout| self.stream.set_write_timeout(Some(timeout)))
            .and_then(|()| self.stream.write_all(bytes));
        result.map_err(|source| TxnError::Io {
            address: self.address.clone(),
            source,
        })
    }

    /// Fills `buffer` before the deadline.
    pub(crate) fn read_exact(&mut self, buffer: &mut [u8]) -> Result<(), TxnError> {
        let result = remaining(self.deadline)
            .and_then(|timeout| self.stream.set_read_timeout(Some(timeout)))
            .and_then(|()| self.stream.read_exact(buffer));
        result.map_err(|source| TxnError::Io {
            address: self.address.clone(),
            source,
        })
    }
}

/// Decodes a `T` of `version` from `body`, turning a panic of the decoder into an error: the
/// bytes come from the network, and a malformed answer must fail the call, not the process.
fn decode<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, String> {
    match panic::catch_unwind(AssertUnwindSafe(|| T::decode(body, version))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(_) => Err("the decoder panicked on malformed input".to_owned()),
    }
}

/// What is left of the time until `deadline`, or `TimedOut` if nothing is (a zero socket timeout
/// would mean "none at all" to the standard library).
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the call's timeout ran out",
        ))
    } else {
        Ok(left)
    }
}
