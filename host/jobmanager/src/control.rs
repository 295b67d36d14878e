//! The JobManager's QUIC endpoint: one session per TaskManager (a control stream of frames),
//! and module streams on which TaskManagers fetch the modules of their deployments.

use super::{JobManagerConfig, JobManagerError, Shared};
use quinn::{Connection, RecvStream, SendStream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use weir_net::rpc::{
    ModuleReply, ModuleRequest, ToJobManager, ToTaskManager, peer_is, read_frame, write_frame,
};
use weir_net::{NodeIdentity, bind_endpoint, load_ca, server_config};

/// Binds the control endpoint and serves it in the background; returns its address.
pub(super) fn listen(
    config: &JobManagerConfig,
    shared: Arc<Shared>,
) -> Result<SocketAddr, JobManagerError> {
    let ca = load_ca(&config.dir)?;
    let identity = NodeIdentity::load(&config.dir, "jobmanager")?;
    let server = server_config(&ca, &identity)?;
    let failed = |source| JobManagerError::Endpoint {
        endpoint: "control",
        address: config.rpc,
        source,
    };
    let endpoint = bind_endpoint(config.rpc, Some(server)).map_err(failed)?;
    let address = endpoint.local_addr().map_err(failed)?;
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                match incoming.await {
                    Ok(connection) => session(connection, remote, shared).await,
                    // A certificate from another CA, or none, ends here.
                    Err(e) => {
                        tracing::warn!(%remote, error = %e, "refused a TaskManager connection")
                    }
                }
            });
        }
    });
    Ok(address)
}

async fn refuse(mut send: SendStream, connection: &Connection, remote: SocketAddr, reason: String) {
    tracing::warn!(%remote, %reason, "refused a TaskManager registration");
    let _ = write_frame(&mut send, &ToTaskManager::Refused { reason }).await;
    let _ = send.finish();
    let _ = send.stopped().await;
    connection.close(1u32.into(), b"refused");
}

async fn session(connection: Connection, remote: SocketAddr, shared: Arc<Shared>) {
    let opened = tokio::time::timeout(Duration::from_secs(10), connection.accept_bi()).await;
    let Ok(Ok((mut send, mut recv))) = opened else {
        tracing::warn!(%remote, "a connection opened no control stream within 10 s");
        return;
    };
    let (name, slots, data_address) = match read_frame::<ToJobManager>(&mut recv).await {
        Ok(Some(ToJobManager::Register {
            name,
            slots,
            data_address,
            version,
        })) => {
            if !peer_is(&connection, &name) {
                let reason =
                    format!("its certificate is not issued for `{name}`, the identity it claims");
                return refuse(send, &connection, remote, reason).await;
            }
            if version != env!("CARGO_PKG_VERSION") {
                let reason = format!(
                    "it runs Weir {version}; this JobManager runs {}",
                    env!("CARGO_PKG_VERSION")
                );
                return refuse(send, &connection, remote, reason).await;
            }
            if slots == 0 {
                return refuse(send, &connection, remote, "it offers no slots".into()).await;
            }
            (name, slots, data_address)
        }
        Ok(other) => {
            let reason = format!("its first message must be a registration, not {other:?}");
            return refuse(send, &connection, remote, reason).await;
        }
        Err(e) => {
            tracing::warn!(%remote, error = %e, "a TaskManager connection failed before registering");
            return;
        }
    };
    let (outbox, mut outgoing) = tokio::sync::mpsc::unbounded_channel();
    let session = shared.update(|state, now| state.register(&name, slots, data_address, now));
    shared
        .outboxes()
        .insert(name.clone(), (session, outbox.clone()));
    let _ = outbox.send(ToTaskManager::Registered);
    let writer_connection = connection.clone();
    tokio::spawn(async move {
        // Ends when the session's outbox is dropped (the TaskManager was declared lost).
        while let Some(message) = outgoing.recv().await {
            if write_frame(&mut send, &message).await.is_err() {
                break;
            }
        }
        writer_connection.close(0u32.into(), b"session over");
    });
    tokio::spawn(serve_modules(
        connection.clone(),
        shared.clone(),
        name.clone(),
    ));
    let reason = loop {
        match read_frame::<ToJobManager>(&mut recv).await {
            Ok(Some(message)) => handle(&shared, &name, session, message),
            Ok(None) => break "it closed its session".to_string(),
            Err(e) => break e.to_string(),
        }
    };
    shared.update(|state, now| ((), state.taskmanager_lost(&name, session, &reason, now)));
    let mut outboxes = shared.outboxes();
    if outboxes.get(&name).is_some_and(|(s, _)| *s == session) {
        outboxes.remove(&name);
    }
}

fn handle(shared: &Shared, from: &str, session: u64, message: ToJobManager) {
    shared.update(|state, now| ((), state.on_report(from, session, message, now)));
}

/// Answers module requests: each on its own stream, the module's bytes after a reply frame.
async fn serve_modules(connection: Connection, shared: Arc<Shared>, taskmanager: String) {
    while let Ok((send, recv)) = connection.accept_bi().await {
        let shared = shared.clone();
        let taskmanager = taskmanager.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_module(send, recv, &shared).await {
                tracing::warn!(taskmanager, error = %e, "a module request failed");
            }
        });
    }
}

async fn serve_module(
    mut send: SendStream,
    mut recv: RecvStream,
    shared: &Shared,
) -> Result<(), String> {
    let request: ModuleRequest = read_frame(&mut recv)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the stream ended before a request")?;
    let bytes = shared
        .blobs
        .path(&request.sha256)
        .map_err(|e| e.to_string())
        .and_then(|path| std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display())));
    match bytes {
        Ok(bytes) => {
            let reply = ModuleReply::Found {
                bytes: bytes.len() as u64,
            };
            write_frame(&mut send, &reply)
                .await
                .map_err(|e| e.to_string())?;
            send.write_all(&bytes).await.map_err(|e| e.to_string())?;
            tracing::info!(
                sha256 = request.sha256,
                bytes = bytes.len(),
                "module shipped"
            );
        }
        Err(reason) => {
            write_frame(&mut send, &ModuleReply::Missing { reason })
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}
