//! The load a drill runs through `keyhold_client::Client`, as a web server would: signers
//! that sign back to back (with a short pause), a writer that starts a key write at a
//! fixed interval whether or not earlier writes have finished (generates, and now and
//! then a destroy of a key it made), and (optionally) TLS handshakes one after another
//! with a server whose key is a cluster key (the server is `handshake`'s). Every
//! operation is recorded with its start, end and result; judging them is left to
//! `checks` and `stats`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhold_client::v1::sign_request::Input;
use keyhold_client::v1::{DestroyKeyRequest, GenerateKeyRequest, SignRequest};
use keyhold_client::{Client, ClientConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::handshake::{HandshakeOptions, HandshakeServer, HandshakeSetup};
use super::record::{OpKind, OpRecord, Source};
use super::{Clock, DrillError, LOAD_ALGORITHM, LOAD_SCHEME};

/// What the load does.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Concurrent signers.
    pub signers: usize,
    /// Pause of each signer between two signatures.
    pub sign_pause: Duration,
    /// A key write starts this often.
    pub write_interval: Duration,
    /// Every n-th write destroys a key the load made (0: never).
    pub destroy_every: u32,
    /// Keys made before the load starts, signed with throughout.
    pub sign_keys: usize,
    /// TLS handshakes with a server whose certificate key is a cluster key, made before
    /// the load starts (`None`: no handshakes).
    pub handshakes: Option<HandshakeOptions>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            signers: 6,
            sign_pause: Duration::from_millis(10),
            write_interval: Duration::from_millis(200),
            destroy_every: 3,
            sign_keys: 3,
            handshakes: Some(HandshakeOptions::default()),
        }
    }
}

/// The running load; stop it with [`Load::stop`]. Dropping it aborts its tasks.
pub(crate) struct Load {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    handshakes: Option<Arc<HandshakeServer>>,
}

struct Shared {
    client: Client,
    clock: Clock,
    prefix: String,
    records: Mutex<Vec<OpRecord>>,
    /// Keys the signers use: the setup keys, then every other acknowledged generate.
    sign_keys: Mutex<Vec<String>>,
    /// Acknowledged generates that the writer may destroy later, oldest first.
    destroyable: Mutex<VecDeque<String>>,
    writes: AtomicU64,
}

impl Load {
    /// Connects a client with `config`, makes the signers' keys and the handshake
    /// server, then starts the signers, the writer and the handshakes.
    pub(crate) async fn start(
        config: ClientConfig,
        clock: Clock,
        prefix: &str,
        options: &LoadOptions,
    ) -> Result<Load, DrillError> {
        let shared = Arc::new(Shared {
            client: Client::connect(config.clone()).await?,
            clock,
            prefix: prefix.to_owned(),
            records: Mutex::new(Vec::new()),
            sign_keys: Mutex::new(Vec::new()),
            destroyable: Mutex::new(VecDeque::new()),
            writes: AtomicU64::new(0),
        });
        for _ in 0..options.sign_keys.max(1) {
            let id = shared.setup_key().await?;
            lock(&shared.sign_keys).push(id);
        }
        let handshakes = match &options.handshakes {
            Some(handshake) => {
                let key_id = shared.setup_key().await?;
                let server = HandshakeServer::start(config, &key_id, handshake).await?;
                Some(Arc::new(server))
            }
            None => None,
        };

        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for signer in 0..options.signers.max(1) {
            let (shared, stopped) = (shared.clone(), stopped.clone());
            let pause = options.sign_pause;
            tasks.push(tokio::spawn(sign_loop(shared, signer, pause, stopped)));
        }
        let (interval, every) = (options.write_interval, options.destroy_every);
        tasks.push(tokio::spawn(write_loop(
            shared.clone(),
            interval,
            every,
            stopped.clone(),
        )));
        if let (Some(server), Some(handshake)) = (&handshakes, &options.handshakes) {
            let (shared, server) = (shared.clone(), server.clone());
            let pause = handshake.pause;
            tasks.push(tokio::spawn(handshake_loop(shared, server, pause, stopped)));
        }
        Ok(Load {
            shared,
            stop,
            tasks,
            handshakes,
        })
    }

    /// The handshake server, when the load makes handshakes.
    pub(crate) fn handshake_setup(&self) -> Option<HandshakeSetup> {
        self.handshakes
            .as_ref()
            .map(|server| server.setup().clone())
    }

    /// Stops starting operations, waits for those in flight (each ends within the
    /// client's call deadline) and returns every record in start order.
    pub(crate) async fn stop(mut self) -> Vec<OpRecord> {
        self.stop.send_replace(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        let mut records = std::mem::take(&mut *lock(&self.shared.records));
        records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        records
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Shared {
    fn record(&self, record: OpRecord) {
        lock(&self.records).push(record);
    }

    /// A key made before the load starts (recorded, so the checks account for it).
    async fn setup_key(&self) -> Result<String, DrillError> {
        let record = self.generate(Source::Setup).await;
        let Some(id) = record.key_id.clone().filter(|_| record.ok) else {
            let error = record.error.unwrap_or_default();
            return Err(DrillError::Setup(format!(
                "cannot make a load key: {error}"
            )));
        };
        Ok(id)
    }

    async fn sign(&self, key_id: String, seq: u64) {
        let start_ms = self.clock.now_ms();
        let request = SignRequest {
            key_id: key_id.clone(),
            scheme: LOAD_SCHEME.into(),
            input: Some(Input::Message(format!("drill message {seq}").into_bytes())),
            min_index: 0,
        };
        let result = self.client.sign(request).await;
        let mut record = OpRecord::new(OpKind::Sign, start_ms, self.clock.now_ms());
        record.key_id = Some(key_id);
        match result {
            Ok(signed) => record.succeeded(Some(signed.node_id), None),
            Err(err) => record.failed(&err),
        }
        self.record(record);
    }

    async fn generate(&self, source: Source) -> OpRecord {
        let seq = self.writes.fetch_add(1, Ordering::Relaxed);
        let label = format!("{}-{seq}", self.prefix);
        let start_ms = self.clock.now_ms();
        let request = GenerateKeyRequest {
            algorithm: LOAD_ALGORITHM.into(),
            label: label.clone(),
            usage: "sign".into(),
        };
        let result = self.client.generate_key(request).await;
        let mut record = OpRecord::new(OpKind::Generate, start_ms, self.clock.now_ms());
        record.label = Some(label);
        record.source = source;
        match result {
            Ok(written) => {
                record.key_id = written.key.map(|k| k.id);
                record.succeeded(None, Some(written.index));
            }
            Err(err) => record.failed(&err),
        }
        self.record(record.clone());
        record
    }

    async fn destroy(&self, key_id: String) {
        let start_ms = self.clock.now_ms();
        let request = DestroyKeyRequest {
            key_id: key_id.clone(),
        };
        let result = self.client.destroy_key(request).await;
        let mut record = OpRecord::new(OpKind::Destroy, start_ms, self.clock.now_ms());
        record.key_id = Some(key_id);
        match result {
            Ok(done) => record.succeeded(None, Some(done.index)),
            Err(err) => record.failed(&err),
        }
        self.record(record);
    }

    /// One write: a destroy every `every`-th time when a key is available, else a generate
    /// whose key joins the signers' keys or the destroyable ones, alternately.
    async fn write(self: Arc<Self>, n: u64, every: u32) {
        if every > 0 && n.is_multiple_of(u64::from(every)) {
            let victim = lock(&self.destroyable).pop_front();
            if let Some(key_id) = victim {
                return self.destroy(key_id).await;
            }
        }
        let record = self.generate(Source::Load).await;
        let Some(id) = record.key_id.filter(|_| record.ok) else {
            return;
        };
        if n.is_multiple_of(2) {
            lock(&self.sign_keys).push(id);
        } else {
            lock(&self.destroyable).push_back(id);
        }
    }
}

async fn sign_loop(
    shared: Arc<Shared>,
    signer: usize,
    pause: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut seq = signer as u64;
    while !*stopped.borrow() {
        let key_id = {
            let keys = lock(&shared.sign_keys);
            keys.get(seq as usize % keys.len().max(1)).cloned()
        };
        if let Some(key_id) = key_id {
            shared.sign(key_id, seq).await;
        }
        seq += 1;
        // The pause ends early when the load stops.
        let _ = tokio::time::timeout(pause, stopped.changed()).await;
    }
}

async fn handshake_loop(
    shared: Arc<Shared>,
    server: Arc<HandshakeServer>,
    pause: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    while !*stopped.borrow() {
        shared.record(server.handshake(shared.clock).await);
        let _ = tokio::time::timeout(pause, stopped.changed()).await;
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    interval: Duration,
    every: u32,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight = Vec::new();
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        n += 1;
        in_flight.push(tokio::spawn(shared.clone().write(n, every)));
        in_flight.retain(|task: &JoinHandle<()>| !task.is_finished());
    }
    for task in in_flight {
        let _ = task.await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
