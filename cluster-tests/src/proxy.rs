//! A TCP proxy for one directed link (a node dialling a peer, or a client dialling a node),
//! controlled in-process so that tests inject network faults without root: pass, cut,
//! stall one direction, added latency per direction, and reset of open connections.
//! TLS passes through untouched: the proxy moves bytes and never looks at them.
//!
//! What each control means on a TCP link:
//! - **cut**: open connections are reset (RST) and new ones are accepted then reset at
//!   once, so the dialler fails fast, as with a refused connection or a downed interface;
//! - **stall** of a direction: bytes in that direction stop moving and stay queued (the
//!   proxy stops reading, so TCP flow control holds the sender), exactly what dropped
//!   packets look like to TCP: retransmissions until the link heals or a timeout fires.
//!   Dropping the bytes instead would corrupt the TLS stream, which no real network does.
//!   Both directions stalled is a black hole: connects still succeed (the kernel accepts
//!   them) but no TLS handshake or request completes;
//! - **latency** of a direction: each chunk is delivered that long after it was read, in
//!   order, without limiting throughput;
//! - **reset**: open connections are reset; the link keeps its other settings.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// Bytes read at once from one side.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction while latency is added.
const QUEUE: usize = 256;

/// One direction of a link's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// From the dialler to the target (requests).
    ToTarget,
    /// From the target back to the dialler (responses).
    FromTarget,
}

/// What happens to the bytes of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Bytes stop moving (and stay queued) while set.
    pub stalled: bool,
    /// Added delay of each chunk.
    pub latency: Duration,
}

/// The settings of a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkControl {
    /// Every connection is reset, open or new.
    pub cut: bool,
    /// Dialler to target.
    pub to_target: Flow,
    /// Target to dialler.
    pub from_target: Flow,
}

impl LinkControl {
    /// The flow of one direction.
    pub fn flow(&self, direction: Direction) -> Flow {
        match direction {
            Direction::ToTarget => self.to_target,
            Direction::FromTarget => self.from_target,
        }
    }

    fn flow_mut(&mut self, direction: Direction) -> &mut Flow {
        match direction {
            Direction::ToTarget => &mut self.to_target,
            Direction::FromTarget => &mut self.from_target,
        }
    }
}

/// Connection counts of a link since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Connections forwarded to the target.
    pub accepted: u64,
    /// Connections reset on arrival because the link was cut or the target refused.
    pub refused: u64,
    /// Open connections reset by a cut or a reset.
    pub reset: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
}

/// A running proxy: listens on a loopback port and forwards to `target`. Stops, and
/// resets every connection it holds, when dropped.
pub struct LinkProxy {
    name: String,
    addr: SocketAddr,
    target: SocketAddr,
    control: watch::Sender<LinkControl>,
    resets: watch::Sender<u64>,
    counters: Arc<Counters>,
    accept: AbortHandle,
}

impl LinkProxy {
    /// Binds a free port on 127.0.0.1 and starts forwarding to `target`. Must be called
    /// within a tokio runtime; the proxy's tasks run there.
    pub fn start(name: &str, target: SocketAddr) -> io::Result<LinkProxy> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        let (control, _) = watch::channel(LinkControl::default());
        let (resets, _) = watch::channel(0u64);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(
            listener,
            target,
            control.subscribe(),
            resets.subscribe(),
            counters.clone(),
        ));
        Ok(LinkProxy {
            name: name.to_owned(),
            addr,
            target,
            control,
            resets,
            counters,
            accept: task.abort_handle(),
        })
    }

    /// The link's name, for example `node-1->node-2` or `client->node-3`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the dialler uses.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The current settings.
    pub fn control(&self) -> LinkControl {
        *self.control.borrow()
    }

    /// Connection counts so far.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            reset: self.counters.reset.load(Ordering::Relaxed),
        }
    }

    /// Back to a clean link: no cut, no stall, no latency. Open connections stay open
    /// (stalled bytes start moving again).
    pub fn pass(&self) {
        self.control.send_replace(LinkControl::default());
    }

    /// Cuts the link: resets every open connection and every new one.
    pub fn cut(&self) {
        self.control.send_modify(|c| c.cut = true);
        self.reset();
    }

    /// Stalls (or resumes) one direction.
    pub fn stall(&self, direction: Direction, stalled: bool) {
        self.control
            .send_modify(|c| c.flow_mut(direction).stalled = stalled);
    }

    /// Stalls both directions: a black hole.
    pub fn blackhole(&self) {
        self.stall(Direction::ToTarget, true);
        self.stall(Direction::FromTarget, true);
    }

    /// Sets the added latency of one direction.
    pub fn set_latency(&self, direction: Direction, latency: Duration) {
        self.control
            .send_modify(|c| c.flow_mut(direction).latency = latency);
    }

    /// Resets every open connection; the settings stay.
    pub fn reset(&self) {
        self.resets.send_modify(|epoch| *epoch += 1);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        // Connection tasks end by themselves when `resets` drops with `self`.
        self.accept.abort();
    }
}

impl std::fmt::Debug for LinkProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkProxy")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("target", &self.target)
            .field("control", &self.control())
            .finish()
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    control: watch::Receiver<LinkControl>,
    resets: watch::Receiver<u64>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors or similar: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if control.borrow().cut {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            reset_now(&inbound);
            continue;
        }
        let (control, resets) = (control.clone(), resets.clone());
        tokio::spawn(serve(inbound, target, control, resets, counters.clone()));
    }
}

/// Forwards one connection until both sides close, an error, or a reset.
async fn serve(
    mut inbound: TcpStream,
    target: SocketAddr,
    control: watch::Receiver<LinkControl>,
    mut resets: watch::Receiver<u64>,
    counters: Arc<Counters>,
) {
    resets.mark_unchanged();
    let connect = tokio::select! {
        connected = TcpStream::connect(target) => connected,
        _ = resets.changed() => {
            counters.reset.fetch_add(1, Ordering::Relaxed);
            return reset_now(&inbound);
        }
    };
    let Ok(mut outbound) = connect else {
        // The target refused: pass that on as fast as a refusal would arrive.
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return reset_now(&inbound);
    };
    counters.accepted.fetch_add(1, Ordering::Relaxed);
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);

    let reset = {
        let (in_read, in_write) = inbound.split();
        let (out_read, out_write) = outbound.split();
        let up = pump(in_read, out_write, Direction::ToTarget, control.clone());
        let down = pump(out_read, in_write, Direction::FromTarget, control);
        tokio::select! {
            _ = async { tokio::try_join!(up, down) } => false,
            _ = resets.changed() => true,
        }
    };
    if reset {
        counters.reset.fetch_add(1, Ordering::Relaxed);
        reset_now(&inbound);
        reset_now(&outbound);
    }
}

/// Moves one direction's bytes, honouring stall and latency; shuts the write side down
/// when the read side ends.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    direction: Direction,
    control: watch::Receiver<LinkControl>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (queue, mut queued) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let mut read_control = control.clone();
    let read = async move {
        loop {
            flowing(&mut read_control, direction).await?;
            let mut chunk = vec![0u8; CHUNK];
            let n = from.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<(), io::Error>(());
            }
            chunk.truncate(n);
            let due = Instant::now() + read_control.borrow().flow(direction).latency;
            if queue.send((due, chunk)).await.is_err() {
                return Ok(());
            }
        }
    };
    let mut write_control = control;
    let write = async move {
        while let Some((due, chunk)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            flowing(&mut write_control, direction).await?;
            to.write_all(&chunk).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// Waits until `direction` is not stalled; fails when the proxy is gone.
async fn flowing(
    control: &mut watch::Receiver<LinkControl>,
    direction: Direction,
) -> io::Result<()> {
    control
        .wait_for(|c| !c.flow(direction).stalled)
        .await
        .map(|_| ())
        .map_err(|_| io::Error::new(io::ErrorKind::ConnectionAborted, "proxy stopped"))
}

/// Makes the coming close of `stream` a reset (RST) instead of an orderly FIN.
fn reset_now(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

#[cfg(test)]
mod tests;
