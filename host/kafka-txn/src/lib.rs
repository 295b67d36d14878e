//! Commits, aborts and fences Kafka transactions *by transactional id, producer id and epoch*.
//!
//! Weir's exactly-once Kafka sink writes each checkpoint's records in a Kafka transaction through
//! librdkafka, pre-commits it when the checkpoint barrier passes, and commits it once the
//! checkpoint is complete. If the process dies between the two, the transaction stays open on the
//! broker, and the restarted job must commit it (or abort it) from the `(producer id, epoch)` it
//! recorded in the checkpoint. librdkafka cannot do that: its only way to touch a transactional id
//! is `init_transactions`, which fences the old producer and *aborts* the open transaction. This
//! crate is the small committer that can: it speaks the Kafka wire protocol itself (with the
//! [`kafka_protocol`] crate for the message layouts) over a blocking [`TcpStream`], and sends
//! `EndTxn` to the transaction coordinator on behalf of the crashed producer, as Flink's Kafka
//! sink does through reflection on the Java producer.
//!
//! The calls are blocking and bounded by the client's timeout, because they run in recovery and
//! in the checkpoint-complete notification, where a hung broker must turn into an error rather
//! than a stuck job. There is no async runtime: a handful of request/response round trips does
//! not need one.
//!
//! What the test broker (noida-db 0.2.3) was seen to do is written next to the code that depends
//! on it, and in `tests/committer.rs`.

use std::io;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest,
    EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

mod conn;

use conn::Conn;

/// Kafka error code `INVALID_PRODUCER_EPOCH` (47).
const INVALID_PRODUCER_EPOCH: i16 = 47;
/// Kafka error code `INVALID_TXN_STATE` (48).
const INVALID_TXN_STATE: i16 = 48;
/// Kafka error code `INVALID_PRODUCER_ID_MAPPING` (49).
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
/// Kafka error code `PRODUCER_FENCED` (90).
const PRODUCER_FENCED: i16 = 90;
/// Kafka error code `TRANSACTIONAL_ID_NOT_FOUND` (105).
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

/// Error codes after which the call is tried again, with the coordinator looked up anew:
/// `COORDINATOR_LOAD_IN_PROGRESS` (14), `COORDINATOR_NOT_AVAILABLE` (15), `NOT_COORDINATOR` (16)
/// and `CONCURRENT_TRANSACTIONS` (51, the coordinator is still writing the markers of an earlier
/// `EndTxn` or of the abort that `InitProducerId` started).
const RETRIABLE_CODES: [i16; 4] = [14, 15, 16, 51];

/// How many times a call is tried in all, however much of its timeout is left.
const MAX_ATTEMPTS: u32 = 8;
/// The first back-off between two tries; it doubles each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest back-off between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The largest response frame accepted. The answers this client asks for are a few kilobytes;
/// a larger size means the stream is not speaking Kafka (or is out of step), and reading it
/// would only waste memory.
const MAX_RESPONSE_BYTES: i32 = 16 << 20;

/// `FindCoordinator` key type of a transaction coordinator (0 is a consumer group's).
const KEY_TYPE_TRANSACTION: i8 = 1;

/// A blocking client for the transaction coordinator of a Kafka cluster.
///
/// It holds no connection: each call connects to a bootstrap broker, finds the coordinator of the
/// transactional id, sends its request there and closes, because it runs once per recovery or
/// checkpoint, where a kept connection would only go stale between uses.
#[derive(Debug, Clone)]
pub struct TxnClient {
    /// The `host:port` addresses to find the cluster by, tried in turn.
    bootstrap: Vec<String>,
    /// The client id sent in each request header, so that broker logs name the committer.
    client_id: String,
    /// The most time one call may take, retries and back-offs included.
    timeout: Duration,
}

/// The state of a transactional id at its coordinator, as `DescribeTransactions` reports it.
///
/// The recovery code reads it to learn the producer id and epoch of a transaction it has no
/// record of, and tests read it to check that a transaction is really left open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    /// The producer id the transactional id is mapped to.
    pub producer_id: i64,
    /// The epoch of that producer id; `EndTxn` must carry this one.
    pub producer_epoch: i16,
    /// The coordinator's name for the state: `Empty`, `Ongoing`, `PrepareCommit`,
    /// `PrepareAbort`, `CompleteCommit`, `CompleteAbort`, `PrepareEpochFence` or `Dead`.
    pub state: String,
    /// The transaction timeout the producer asked for, after which the broker aborts the
    /// transaction by itself.
    pub timeout_ms: i32,
}

/// Why a call to the coordinator failed.
///
/// The variants split what a caller may retry later (no connection, I/O) from what the broker
/// refused (with its Kafka error code, to decide on) and from answers this client could not read.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// No TCP connection could be opened to `address` (for the bootstrap list, the last one
    /// tried), so the cluster or the coordinator is out of reach.
    #[error("cannot connect to Kafka broker {address}: {source}")]
    Connect {
        /// The `host:port` that was tried.
        address: String,
        /// What the connection attempt returned.
        #[source]
        source: io::Error,
    },
    /// A request or response could not be sent or read in time on an open connection.
    #[error("I/O with Kafka broker {address} failed: {source}")]
    Io {
        /// The `host:port` of the connection.
        address: String,
        /// What the socket returned (`TimedOut` or `WouldBlock` once the timeout ran out).
        #[source]
        source: io::Error,
    },
    /// The broker answered with a Kafka error code.
    #[error("{api} failed: {message} (Kafka error code {code})")]
    Broker {
        /// The request that failed, e.g. `EndTxn`.
        api: &'static str,
        /// The Kafka error code, e.g. 15.
        code: i16,
        /// The Kafka name of the error, e.g. `COORDINATOR_NOT_AVAILABLE`, then the broker's own
        /// message or what this client learnt about it, if any.
        message: String,
    },
    /// The broker's answer could not be decoded, did not match the request, or the broker
    /// supports no version of a request this client can send.
    #[error("Kafka protocol error: {0}")]
    Protocol(String),
}

impl TxnError {
    /// The Kafka error code of a [`TxnError::Broker`], so that callers can match on it (for
    /// instance on `PRODUCER_FENCED`, 90) without destructuring.
    pub fn code(&self) -> Option<i16> {
        match self {
            TxnError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the coordinator does not know the transactional id (never used, expired, or
    /// forgotten by a broker that loses transactions).
    pub fn is_unknown_id(&self) -> bool {
        self.code() == Some(TRANSACTIONAL_ID_NOT_FOUND)
    }

    /// Whether a newer producer or epoch holds the id: the call's producer was fenced.
    pub fn is_fenced(&self) -> bool {
        matches!(
            self.code(),
            Some(INVALID_PRODUCER_EPOCH | INVALID_PRODUCER_ID_MAPPING | PRODUCER_FENCED)
        )
    }

    /// Whether another try may succeed: a coordinator that is moving, loading or busy, or a
    /// connection that failed. The calls of [`TxnClient`] already retry these a few times.
    pub fn is_retriable(&self) -> bool {
        match self {
            TxnError::Connect { .. } | TxnError::Io { .. } => true,
            TxnError::Broker { code, .. } => RETRIABLE_CODES.contains(code),
            TxnError::Protocol(_) => false,
        }
    }

    /// A [`TxnError::Broker`] for `code`, named as Kafka names it.
    fn broker(api: &'static str, code: i16, detail: Option<&str>) -> Self {
        let mut message = error_name(code);
        if let Some(detail) = detail.filter(|d| !d.is_empty()) {
            message.push_str(": ");
            message.push_str(detail);
        }
        TxnError::Broker { api, code, message }
    }
}

/// The Kafka name of an error code (`NOT_COORDINATOR`), as the broker logs and Kafka's
/// documentation spell it, so that an error message can be searched for.
fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_owned(),
        Some(ResponseError::Unknown(code)) => format!("UNKNOWN_ERROR_CODE_{code}"),
        // kafka-protocol names its variants in CamelCase (`NotCoordinator`).
        Some(known) => {
            let mut name = String::new();
            for (i, c) in known.to_string().chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

impl TxnClient {
    /// A client for the cluster reached at `bootstrap` (`"host:port,host:port"`), whose every
    /// call gives up after `timeout`.
    ///
    /// Nothing is connected yet, so that building the client cannot fail or block.
    pub fn new(bootstrap: &str, timeout: Duration) -> Self {
        TxnClient {
            bootstrap: bootstrap
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            client_id: "weir-kafka-txn".to_owned(),
            timeout,
        }
    }

    /// The same client sending `client_id` in its requests, so that broker logs and quotas can
    /// tell one job's committer from another's.
    pub fn with_client_id(mut self, client_id: &str) -> Self {
        client_id.clone_into(&mut self.client_id);
        self
    }

    /// Producer id, epoch and state of the transaction of `transactional_id`
    /// (`DescribeTransactions`, API key 65, v0), found at its coordinator (`FindCoordinator`
    /// with key type 1).
    ///
    /// Recovery needs it to tell an open transaction (`Ongoing`) from one already ended, and to
    /// learn the epoch of a producer whose pre-commit record was lost. An id the coordinator
    /// does not know fails with `TRANSACTIONAL_ID_NOT_FOUND` (105).
    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, TxnError> {
        self.with_coordinator(transactional_id, |conn| describe_at(conn, transactional_id))
    }

    /// Commits (`commit`) or aborts the transaction of `transactional_id` run by
    /// `(producer_id, producer_epoch)`: `EndTxn` (API key 26) sent to its coordinator, and sent
    /// again while the coordinator answers `CONCURRENT_TRANSACTIONS`, that is until the
    /// transaction markers are written. This is the step librdkafka cannot take for a producer
    /// that crashed after its pre-commit.
    ///
    /// Idempotent, because recovery may commit a transaction that the crashed job had already
    /// committed, or repeat a commit whose answer it lost. Before `EndTxn`, the coordinator's
    /// state is read (`DescribeTransactions`, where the broker has it), and when it shows the
    /// same producer id and epoch:
    /// - in the wanted end state (`CompleteCommit` for a commit, `CompleteAbort` for an abort),
    ///   or in `Empty` (no transaction was begun under this epoch, so there is nothing to end),
    ///   the call is `Ok` without sending `EndTxn`;
    /// - in the other end state, or preparing it, the call fails with `INVALID_TXN_STATE` (48)
    ///   without sending `EndTxn`: a commit of an aborted transaction is lost data, not success.
    ///   Kafka would answer `INVALID_TXN_STATE` itself, but noida-db answers `NONE` and rewrites
    ///   its state to the one asked for (its records stay as they were), which this check keeps
    ///   from happening.
    ///
    /// And when the coordinator does not know the transactional id at all (never used, or
    /// expired), the call fails with `TRANSACTIONAL_ID_NOT_FOUND` (105) without sending
    /// `EndTxn`, to which Kafka answers `INVALID_PRODUCER_ID_MAPPING` but noida-db `NONE`.
    ///
    /// Otherwise the broker's answer to `EndTxn` decides: `NONE` (0) is `Ok` (Kafka and noida-db
    /// also answer so to a repeated commit or abort); every error code is an error, on purpose
    /// also `PRODUCER_FENCED` (90), `INVALID_PRODUCER_EPOCH` (47, what noida-db answers) and
    /// `INVALID_PRODUCER_ID_MAPPING` (49): a newer producer took the id over, and the broker no
    /// longer knows how this epoch's transaction ended. Flink's committer takes these for
    /// "already committed"; the caller, who knows whether it reuses transactional ids, decides
    /// (see [`TxnError::code`]).
    ///
    /// Ending by `(producer_id, producer_epoch)` only names the *current* transaction of that
    /// producer: if the same producer had begun a new transaction after the one meant, this call
    /// ends the new one. The sink must therefore not begin another transaction on a
    /// transactional id whose pre-committed transaction may still need this call.
    pub fn end(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), TxnError> {
        self.with_coordinator(transactional_id, |conn| {
            end_at(conn, transactional_id, producer_id, producer_epoch, commit)
        })
        .map_err(annotate_fenced)
    }

    /// `InitProducerId` (API key 22) for `transactional_id`, as a new producer would send it:
    /// fences every earlier producer of that id and aborts its open transaction (the call retries
    /// while the coordinator answers `CONCURRENT_TRANSACTIONS`, that is until the abort is
    /// written). Returns the new `(producer_id, epoch)`.
    ///
    /// Recovery uses it to clean up transactional ids it has no commit record for, and epoch 0
    /// in the answer means the id had never been used, which is how Flink probes for lingering
    /// transactions of ids beyond the ones it knows. `transaction_timeout_ms` becomes the id's
    /// transaction timeout; the broker refuses one above its `transaction.max.timeout.ms` with
    /// `INVALID_TRANSACTION_TIMEOUT` (50).
    ///
    /// Unlike [`TxnClient::end`], this is not idempotent: each `InitProducerId` the broker
    /// receives bumps the epoch, so if an answer is lost and the call tries again, the epoch
    /// returned counts the lost try too (and is no longer 0 for a fresh id).
    pub fn fence(
        &self,
        transactional_id: &str,
        transaction_timeout_ms: i32,
    ) -> Result<(i64, i16), TxnError> {
        self.with_coordinator(transactional_id, |conn| {
            fence_at(conn, transactional_id, transaction_timeout_ms)
        })
    }

    /// Runs `call` on a connection to the coordinator of `transactional_id`, looked up anew
    /// before each try, and tries again after a short back-off while the error is retriable
    /// (see [`TxnError::is_retriable`]) and the call's timeout and [`MAX_ATTEMPTS`] allow.
    fn with_coordinator<T>(
        &self,
        transactional_id: &str,
        mut call: impl FnMut(&mut Conn) -> Result<T, TxnError>,
    ) -> Result<T, TxnError> {
        let now = Instant::now();
        // A timeout too long to add (Duration::MAX for "none") must not panic: a year will do.
        let deadline = now
            .checked_add(self.timeout)
            .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
            .unwrap_or(now);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = self
                .coordinator(transactional_id, deadline)
                .and_then(|mut conn| call(&mut conn));
            match result {
                Err(error)
                    if error.is_retriable()
                        && attempt < MAX_ATTEMPTS
                        && Instant::now() + backoff < deadline =>
                {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// A connection to the transaction coordinator of `transactional_id`: `FindCoordinator` at
    /// each bootstrap address in turn until one answers, then a connection to the broker it
    /// names (the same one when the answer is the bootstrap broker itself).
    fn coordinator(&self, transactional_id: &str, deadline: Instant) -> Result<Conn, TxnError> {
        let mut last_error = None;
        for address in &self.bootstrap {
            let found = Conn::open(address, &self.client_id, deadline).and_then(|mut conn| {
                find_coordinator(&mut conn, transactional_id).map(|a| (conn, a))
            });
            match found {
                Ok((conn, coordinator)) if coordinator == conn.address => return Ok(conn),
                Ok((_, coordinator)) => return Conn::open(&coordinator, &self.client_id, deadline),
                // A broker that answered with a Kafka error speaks for the cluster: the caller
                // retries the retriable ones after a back-off. An address that could not be
                // reached, or does not speak Kafka, leaves the question to the next one.
                Err(error @ TxnError::Broker { .. }) => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| TxnError::Connect {
            address: String::new(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "no bootstrap address given"),
        }))
    }
}

/// Adds to a `PRODUCER_FENCED`-like error of `EndTxn` why it cannot be settled here, since the
/// bare Kafka name suggests a bug rather than a transaction taken over.
fn annotate_fenced(error: TxnError) -> TxnError {
    match error {
        TxnError::Broker {
            api,
            code: code @ (PRODUCER_FENCED | INVALID_PRODUCER_EPOCH | INVALID_PRODUCER_ID_MAPPING),
            mut message,
        } => {
            message.push_str(
                " (the transactional id has moved on to another producer id or epoch; how \
                 this epoch's transaction ended is no longer known to the broker)",
            );
            TxnError::Broker { api, code, message }
        }
        error => error,
    }
}

/// `FindCoordinator` for the transaction coordinator of `transactional_id`, answered as its
/// `host:port`.
fn find_coordinator(conn: &mut Conn, transactional_id: &str) -> Result<String, TxnError> {
    // v1..=3 carry one key and its type (v0 has no key type, v4+ batches keys).
    let version = conn.version(ApiKey::FindCoordinator, 1, 3)?;
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(transactional_id.to_owned()))
        .with_key_type(KEY_TYPE_TRANSACTION);
    let response: FindCoordinatorResponse =
        conn.call(ApiKey::FindCoordinator, version, &request)?;
    if response.error_code != 0 {
        return Err(TxnError::broker(
            "FindCoordinator",
            response.error_code,
            response.error_message.as_deref(),
        ));
    }
    let host: &str = &response.host;
    if host.is_empty() || !(0..=i32::from(u16::MAX)).contains(&response.port) {
        return Err(TxnError::Protocol(format!(
            "FindCoordinator named no usable coordinator: host {host:?}, port {}",
            response.port
        )));
    }
    Ok(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{}", response.port)
    } else {
        format!("{host}:{}", response.port)
    })
}

/// `DescribeTransactions` v0 for one transactional id, at its coordinator.
fn describe_at(conn: &mut Conn, transactional_id: &str) -> Result<TxnDescription, TxnError> {
    let version = conn.version(ApiKey::DescribeTransactions, 0, 0)?;
    let request =
        DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(
            StrBytes::from_string(transactional_id.to_owned()),
        )]);
    let response: DescribeTransactionsResponse =
        conn.call(ApiKey::DescribeTransactions, version, &request)?;
    let state = response
        .transaction_states
        .into_iter()
        .find(|s| &*s.transactional_id.0 == transactional_id)
        .ok_or_else(|| {
            TxnError::Protocol(format!(
                "DescribeTransactions did not answer for transactional id {transactional_id:?}"
            ))
        })?;
    if state.error_code != 0 {
        return Err(TxnError::broker(
            "DescribeTransactions",
            state.error_code,
            None,
        ));
    }
    Ok(TxnDescription {
        producer_id: state.producer_id.0,
        producer_epoch: state.producer_epoch,
        state: state.transaction_state.to_string(),
        timeout_ms: state.transaction_timeout_ms,
    })
}

/// `EndTxn` at the coordinator, unless its state shows the transaction already ended (see
/// [`TxnClient::end`]).
fn end_at(
    conn: &mut Conn,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
) -> Result<(), TxnError> {
    // Brokers before Kafka 3.0 have no DescribeTransactions: there EndTxn's answer alone decides.
    if conn.supports(ApiKey::DescribeTransactions) {
        match describe_at(conn, transactional_id) {
            Ok(now) if now.producer_id == producer_id && now.producer_epoch == producer_epoch => {
                match (now.state.as_str(), commit) {
                    ("CompleteCommit", true) | ("CompleteAbort", false) | ("Empty", _) => {
                        return Ok(());
                    }
                    ("CompleteAbort" | "PrepareAbort", true)
                    | ("CompleteCommit" | "PrepareCommit", false) => {
                        return Err(TxnError::broker(
                            "EndTxn",
                            INVALID_TXN_STATE,
                            Some(&format!(
                                "cannot {} the transaction of producer {producer_id} epoch \
                                 {producer_epoch}: the coordinator has it in state {}",
                                if commit { "commit" } else { "abort" },
                                now.state
                            )),
                        ));
                    }
                    // Ongoing, or preparing the wanted end: EndTxn ends it, or answers
                    // CONCURRENT_TRANSACTIONS until the markers are written.
                    _ => {}
                }
            }
            // Another producer or epoch holds the id: EndTxn gets the broker's own answer.
            Ok(_) => {}
            // Kafka answers EndTxn for an id it does not know (never used, or expired after
            // transactional.id.expiration.ms) with INVALID_PRODUCER_ID_MAPPING, but noida-db
            // answers NONE: refuse here, so that a commit nobody can have made is no success.
            Err(error) if error.is_unknown_id() => {
                return Err(TxnError::broker(
                    "DescribeTransactions",
                    TRANSACTIONAL_ID_NOT_FOUND,
                    Some(&format!(
                        "the coordinator does not know transactional id {transactional_id:?}, \
                         so there is no transaction of producer {producer_id} epoch \
                         {producer_epoch} to {}",
                        if commit { "commit" } else { "abort" }
                    )),
                ));
            }
            Err(error) => return Err(error),
        }
    }
    // v5 belongs to the transactions of KIP-890 (the epoch bumps at each end), whose answers
    // carry a new epoch this client has no use for; v0..=4 end a transaction the classic way.
    let version = conn.version(ApiKey::EndTxn, 0, 4)?;
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_string(
            transactional_id.to_owned(),
        )))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
        .with_committed(commit);
    let response: EndTxnResponse = conn.call(ApiKey::EndTxn, version, &request)?;
    match response.error_code {
        0 => Ok(()),
        code => Err(TxnError::broker("EndTxn", code, None)),
    }
}

/// `InitProducerId` at the coordinator, as a new producer of `transactional_id`.
fn fence_at(
    conn: &mut Conn,
    transactional_id: &str,
    transaction_timeout_ms: i32,
) -> Result<(i64, i16), TxnError> {
    // v0..=4 all take producer id and epoch -1 as "a new producer"; v5 is the same as v4 but
    // for an error code that older clients cannot read.
    let version = conn.version(ApiKey::InitProducerId, 0, 4)?;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_string(
            transactional_id.to_owned(),
        ))))
        .with_transaction_timeout_ms(transaction_timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = conn.call(ApiKey::InitProducerId, version, &request)?;
    match response.error_code {
        0 => Ok((response.producer_id.0, response.producer_epoch)),
        code => Err(TxnError::broker("InitProducerId", code, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(15), "COORDINATOR_NOT_AVAILABLE");
        assert_eq!(error_name(90), "PRODUCER_FENCED");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(30_000), "UNKNOWN_ERROR_CODE_30000");
    }

    #[test]
    fn bootstrap_list_is_split_and_trimmed() {
        let client = TxnClient::new(" a:1, b:2 ,,", Duration::from_secs(1));
        assert_eq!(client.bootstrap, ["a:1", "b:2"]);
    }

    #[test]
    fn no_bootstrap_address_is_a_connect_error() {
        let client = TxnClient::new("", Duration::from_secs(1));
        assert!(matches!(
            client.describe("t"),
            Err(TxnError::Connect { .. })
        ));
    }

    #[test]
    fn unreachable_broker_fails_within_the_timeout() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let started = Instant::now();
        let client = TxnClient::new(&format!("127.0.0.1:{port}"), Duration::from_millis(500));
        let error = client.fence("t", 1000).expect_err("nothing listens");
        assert!(matches!(error, TxnError::Connect { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
