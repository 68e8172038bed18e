//! The proxy against a loopback echo server.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::{Direction, LinkProxy};

/// An echo server on a free loopback port.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(message).await?;
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).await?;
    Ok(back)
}

/// True when the connection is closed or reset within a second.
async fn closes(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
}

#[tokio::test]
async fn bytes_pass_both_ways_untouched() {
    let proxy = LinkProxy::start("test", echo_server().await).unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let message: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut stream, &message).await.unwrap(), message);
    assert_eq!(proxy.stats().accepted, 1);
}

#[tokio::test]
async fn latency_delays_each_direction() {
    let proxy = LinkProxy::start("test", echo_server().await).unwrap();
    proxy.set_latency(Direction::ToTarget, Duration::from_millis(150));
    proxy.set_latency(Direction::FromTarget, Duration::from_millis(100));
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let started = Instant::now();
    assert_eq!(round_trip(&mut stream, b"ping").await.unwrap(), b"ping");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_stalled_direction_holds_bytes_until_it_resumes() {
    let proxy = LinkProxy::start("test", echo_server().await).unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut stream, b"warm").await.unwrap(), b"warm");

    proxy.stall(Direction::FromTarget, true);
    let held = tokio::time::timeout(Duration::from_millis(300), round_trip(&mut stream, b"held"));
    assert!(held.await.is_err(), "bytes crossed a stalled direction");

    proxy.stall(Direction::FromTarget, false);
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"held", "stalled bytes are delivered, not dropped");
}

#[tokio::test]
async fn a_cut_resets_open_connections_and_refuses_new_ones_until_pass() {
    let proxy = LinkProxy::start("test", echo_server().await).unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut open, b"before").await.unwrap(), b"before");

    proxy.cut();
    assert!(closes(&mut open).await, "open connection survived a cut");
    let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(closes(&mut fresh).await, "new connection passed a cut");
    assert!(proxy.stats().refused >= 1);

    proxy.pass();
    let mut healed = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut healed, b"after").await.unwrap(), b"after");
}

#[tokio::test]
async fn a_reset_closes_open_connections_but_not_the_link() {
    let proxy = LinkProxy::start("test", echo_server().await).unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut open, b"one").await.unwrap(), b"one");

    proxy.reset();
    assert!(closes(&mut open).await);
    assert_eq!(proxy.stats().reset, 1);
    let mut next = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut next, b"two").await.unwrap(), b"two");
}

#[tokio::test]
async fn a_refusing_target_is_passed_on_as_a_reset() {
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = LinkProxy::start("test", gone).unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(closes(&mut stream).await);
    assert_eq!(proxy.stats().refused, 1);
}
