use super::{ToJobManager, peer_is, read_frame, write_frame};
use crate::{ClusterCa, client_config, server_config};

#[tokio::test]
async fn frames_cross_quic_and_a_peer_is_only_the_identity_its_certificate_names() {
    let ca = ClusterCa::generate("test").expect("ca");
    let server_identity = ca.issue("jobmanager").expect("identity");
    let client_identity = ca.issue("taskmanager-1").expect("identity");
    let server = quinn::Endpoint::server(
        server_config(&ca.certificate(), &server_identity).expect("config"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .expect("server");
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("client");
    client.set_default_client_config(
        client_config(&ca.certificate(), &client_identity).expect("config"),
    );
    let address = server.local_addr().expect("addr");
    let accept = tokio::spawn(async move {
        let connection = server
            .accept()
            .await
            .expect("incoming")
            .await
            .expect("connection");
        assert!(peer_is(&connection, "taskmanager-1"));
        assert!(
            !peer_is(&connection, "taskmanager-2"),
            "a claim its certificate does not back"
        );
        let (_, mut recv) = connection.accept_bi().await.expect("stream");
        let first: Option<ToJobManager> = read_frame(&mut recv).await.expect("frame");
        let second: Option<ToJobManager> = read_frame(&mut recv).await.expect("end");
        (first, second)
    });
    let connection = client
        .connect(address, "jobmanager")
        .expect("connect")
        .await
        .expect("connection");
    let (mut send, _recv) = connection.open_bi().await.expect("stream");
    write_frame(
        &mut send,
        &ToJobManager::Heartbeat {
            resident_bytes: None,
        },
    )
    .await
    .expect("write");
    send.finish().expect("finish");
    let (first, second) = accept.await.expect("join");
    assert!(matches!(first, Some(ToJobManager::Heartbeat { .. })));
    assert!(second.is_none(), "a clean end between frames");
}
