//! `weir bench --net`: throughput of one data channel over loopback QUIC, with mutual TLS,
//! credit-based flow control and checked decoding on receipt — the path records take between
//! TaskManagers — against the same frames over plain TCP (no TLS, no credits: the kernel's flow
//! control only), measured in the same run.

use std::net::SocketAddr;
use std::time::Instant;
use weir_net::{
    ClusterCa, DataReceiver, DataSender, InputGate, bind_endpoint, client_config, server_config,
};
use weir_proto::RecordBatch;
use weir_proto::wire::WireElement;
use weir_runtime::operators::sources::bid_row;

/// Records per second and bytes per second sending `batches` batches of 1024 binary bids.
pub(crate) fn quic_channel(batches: u64) -> Result<(f64, f64), String> {
    runtime()?.block_on(run(batches))
}

/// The same over one plain TCP connection on loopback: the baseline QUIC is measured against.
pub(crate) fn tcp_channel(batches: u64) -> Result<(f64, f64), String> {
    runtime()?.block_on(run_tcp(batches))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Bytes a batch stands for in the figures: its payloads plus 17 bytes of per-record metadata.
fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch.data_len() as u64 + batch.len() as u64 * 17
}

async fn run_tcp(batches: u64) -> Result<(f64, f64), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let receiving = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut stream = tokio::io::BufReader::with_capacity(1 << 20, stream);
        let (mut records, mut bytes) = (0u64, 0u64);
        loop {
            let len = match stream.read_u32_le().await {
                Ok(len) => len as usize,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.to_string()),
            };
            let mut frame = rkyv::util::AlignedVec::<16>::with_capacity(len);
            frame.resize(len, 0);
            stream
                .read_exact(&mut frame)
                .await
                .map_err(|e| e.to_string())?;
            // Checked and copied out exactly as the QUIC receiver does.
            if let weir_proto::wire::ArchivedWireElement::Records(batch) =
                weir_proto::wire::decode(&frame).map_err(|e| e.to_string())?
            {
                let batch = rkyv::deserialize::<RecordBatch, rkyv::rancor::Error>(batch)
                    .map_err(|e| e.to_string())?;
                records += batch.len() as u64;
                bytes += batch_bytes(&batch);
            }
        }
        Ok::<(u64, u64), String>((records, bytes))
    });
    let prepared: Vec<WireElement> = (0..64).map(|n| WireElement::Records(bids(n))).collect();
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stream = stream;
    let mut frame_bytes = Vec::new();
    for n in 0..batches {
        // One write per frame, as the QUIC sender writes one frame per batch.
        let frame =
            weir_proto::wire::encode(&prepared[(n % 64) as usize]).map_err(|e| e.to_string())?;
        frame_bytes.clear();
        frame_bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        frame_bytes.extend_from_slice(&frame);
        stream
            .write_all(&frame_bytes)
            .await
            .map_err(|e| e.to_string())?;
    }
    stream.shutdown().await.map_err(|e| e.to_string())?;
    let received = receiving.await.map_err(|e| e.to_string())??;
    rates(batches, received, started)
}

/// Records/s and bytes/s since `started`, once every record sent was received.
fn rates(
    batches: u64,
    (records, bytes): (u64, u64),
    started: Instant,
) -> Result<(f64, f64), String> {
    if records != batches * 1024 {
        return Err(format!(
            "sent {} records, received {records}",
            batches * 1024
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((records as f64 / seconds, bytes as f64 / seconds))
}

fn bids(n: u64) -> RecordBatch {
    let mut batch = RecordBatch::with_capacity(1024, 24);
    for j in n * 1024..(n + 1) * 1024 {
        let (auction, bidder, price, ts) = bid_row(j);
        batch.push_with(None, ts, |out| {
            for v in [auction, bidder, price] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        });
    }
    batch
}

async fn run(batches: u64) -> Result<(f64, f64), String> {
    let ca = ClusterCa::generate("bench").map_err(|e| e.to_string())?;
    let any: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let server_id = ca.issue("receiver").map_err(|e| e.to_string())?;
    let server = bind_endpoint(
        any,
        Some(server_config(&ca.certificate(), &server_id).map_err(|e| e.to_string())?),
    )
    .map_err(|e| e.to_string())?;
    let address = server.local_addr().map_err(|e| e.to_string())?;
    let mut client = bind_endpoint(any, None).map_err(|e| e.to_string())?;
    let client_id = ca.issue("sender").map_err(|e| e.to_string())?;
    client.set_default_client_config(
        client_config(&ca.certificate(), &client_id).map_err(|e| e.to_string())?,
    );
    let receiving = tokio::spawn(async move {
        let incoming = server.accept().await.ok_or("no connection")?;
        let connection = incoming.await.map_err(|e| e.to_string())?;
        let (credits, data) = connection.accept_bi().await.map_err(|e| e.to_string())?;
        let (_, mut receiver) =
            DataReceiver::accept("sender", data, credits, &InputGate::new(4, 16))
                .await
                .map_err(|e| e.to_string())?;
        let (mut records, mut bytes) = (0u64, 0u64);
        while let Some(batch) = receiver.next().await.map_err(|e| e.to_string())? {
            records += batch.len() as u64;
            bytes += batch_bytes(&batch);
        }
        Ok::<(u64, u64), String>((records, bytes))
    });
    let prepared: Vec<WireElement> = (0..64).map(|n| WireElement::Records(bids(n))).collect();
    let started = Instant::now();
    let connection = client
        .connect(address, "receiver")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (send, credits) = connection.open_bi().await.map_err(|e| e.to_string())?;
    let mut sender = DataSender::open("receiver", send, credits, 0, 16)
        .await
        .map_err(|e| e.to_string())?;
    for n in 0..batches {
        sender
            .send(&prepared[(n % 64) as usize])
            .await
            .map_err(|e| e.to_string())?;
    }
    sender.finish().await.map_err(|e| e.to_string())?;
    let received = receiving.await.map_err(|e| e.to_string())??;
    rates(batches, received, started)
}
