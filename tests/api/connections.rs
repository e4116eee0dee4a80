//! Connections that hold sockets without finishing requests: HTTP/2 prefaces, idle keep-alive
//! connections, and floods of idle sockets against the connection cap.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, all_backends};

/// Whether the server closes `stream` within `within` (read_to_end completes).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connected")
}

all_backends! {
    async fn an_http2_preface_or_a_lone_byte_does_not_hold_a_connection(backend: Backend) {
        let app = backend
            .spawn_with(|c| c.http.request_timeout = Duration::from_secs(1))
            .await;
        // HTTP/2 with prior knowledge: the preface, then nothing.
        let mut h2 = connect(&app.base).await;
        h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        assert!(closed_within(&mut h2, Duration::from_secs(10)).await, "an HTTP/2 preface kept the connection open");
        // The first byte of that preface alone.
        let mut p = connect(&app.base).await;
        p.write_all(b"P").await.unwrap();
        assert!(closed_within(&mut p, Duration::from_secs(10)).await, "a lone byte kept the connection open");
        // And a preface followed by an HTTP/2 SETTINGS frame.
        let mut settings = connect(&app.base).await;
        settings.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
        assert!(closed_within(&mut settings, Duration::from_secs(10)).await, "an HTTP/2 connection stayed open");
    }

    async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout(backend: Backend) {
        let app = backend
            .spawn_with(|c| c.http.request_timeout = Duration::from_secs(1))
            .await;
        let mut stream = connect(&app.base).await;
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        // Then silence: the server closes the connection instead of keeping it forever.
        assert!(closed_within(&mut stream, Duration::from_secs(10)).await, "an idle connection stayed open");
    }

    async fn a_flood_of_idle_sockets_is_refused_and_the_server_recovers(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.request_timeout = Duration::from_secs(3);
                c.server.max_connections = Some(16);
            })
            .await;
        let mut idle = Vec::new();
        for _ in 0..16 {
            let mut s = connect(&app.base).await;
            s.write_all(b"P").await.unwrap();
            idle.push(s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Over the cap: the server closes a new connection at once, long before any timeout.
        let mut extra = connect(&app.base).await;
        assert!(closed_within(&mut extra, Duration::from_secs(1)).await, "a connection over the cap was kept");
        // The idle sockets are cut at the header timeout, and the server serves again.
        for s in &mut idle {
            assert!(closed_within(s, Duration::from_secs(10)).await, "an idle socket outlived the header timeout");
        }
        let client = reqwest::Client::new();
        let mut status = None;
        for _ in 0..50 {
            if let Ok(response) = client.get(app.url("/health")).send().await {
                status = Some(response.status());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, Some(StatusCode::OK));
    }
}
