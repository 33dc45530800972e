//! The clients: each a task with one keep-alive connection, sending a mix of reads and uploads
//! until the end of the soak, checking every answer, and retrying across the server's restart as
//! the collector does (`collector/src/output.rs`, `post_with_retries`: a failed transport is
//! retried after a delay that doubles).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::body::Bytes;
use shared::api::{GraphAnswer, HostList, PoolList, PrecheckAnswer, UploadReceipt};
use shared::profile::HostProfile;
use shared::verdict::Verdict;

use crate::http::{Conn, Request, Transport};

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Health,
    Hosts,
    Compat,
    Graph,
    Pools,
    Precheck,
    Fleet,
    Upload,
}

pub const KINDS: [Kind; 8] = [
    Kind::Health,
    Kind::Hosts,
    Kind::Compat,
    Kind::Graph,
    Kind::Pools,
    Kind::Precheck,
    Kind::Fleet,
    Kind::Upload,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Health => "GET /api/v1/health",
            Kind::Hosts => "GET /api/v1/hosts",
            Kind::Compat => "GET /api/v1/compat (pair)",
            Kind::Graph => "GET /api/v1/graph",
            Kind::Pools => "GET /api/v1/pools",
            Kind::Precheck => "POST /api/v1/precheck (to one host)",
            Kind::Fleet => "GET /api/v1/fleet.jsonl",
            Kind::Upload => "POST /api/v1/hosts (upload)",
        }
    }

    /// The name `--mix` uses.
    pub fn short(self) -> &'static str {
        match self {
            Kind::Health => "health",
            Kind::Hosts => "hosts",
            Kind::Compat => "compat",
            Kind::Graph => "graph",
            Kind::Pools => "pools",
            Kind::Precheck => "precheck",
            Kind::Fleet => "fleet",
            Kind::Upload => "upload",
        }
    }

    pub fn index(self) -> usize {
        KINDS.iter().position(|&k| k == self).unwrap_or(0)
    }

    /// Default relative frequency in the mix: point reads and uploads most, whole-fleet answers
    /// least (every upload changes the fleet, so a graph or pools read after it is computed
    /// afresh).
    pub fn default_weight(self) -> u64 {
        match self {
            Kind::Health => 10,
            Kind::Hosts => 6,
            Kind::Compat => 30,
            Kind::Graph => 3,
            Kind::Pools => 3,
            Kind::Precheck => 10,
            Kind::Fleet => 3,
            Kind::Upload => 35,
        }
    }
}

/// The kill and the restart, as the clients see them.
#[derive(Debug, Default)]
pub struct Restart {
    /// Set just before SIGKILL is sent.
    pub killed: OnceLock<Instant>,
    /// Set once the restarted server answered `/api/v1/health`.
    pub up: OnceLock<Instant>,
}

impl Restart {
    /// Whether a transport failure of an attempt started at `t0` is the restart's doing: the
    /// server has been killed, and the attempt began before its successor answered.
    fn explains(&self, t0: Instant) -> bool {
        self.killed.get().is_some() && self.up.get().is_none_or(|&up| t0 < up)
    }

    /// Whether a connection was made to the killed server.
    fn stale(&self, conn: &Conn) -> bool {
        self.killed.get().is_some_and(|&k| conn.opened < k)
    }
}

/// Answers taken from the idle server before the load: the same question must get the same answer
/// under load and after the restart (the demo hosts they name never change).
#[derive(Debug, Default)]
pub struct References {
    /// `GET /api/v1/compat?...` paths and their verdicts.
    pub compat: Vec<(String, Verdict)>,
    /// Precheck bodies and their answers.
    pub precheck: Vec<(Bytes, PrecheckAnswer)>,
}

/// Everything the clients share.
#[derive(Debug)]
pub struct Plan {
    pub addr: SocketAddr,
    pub token: String,
    /// No request starts after this.
    pub end: Instant,
    /// A request still retrying gives up then.
    pub give_up: Instant,
    /// Pause between a client's requests.
    pub think: Duration,
    /// Relative frequency of each kind, in `KINDS` order.
    pub weights: [u64; KINDS.len()],
    pub refs: References,
    /// Profiles the uploads are made from (the demo fleet's), round-robin over the clients.
    pub templates: Vec<Arc<HostProfile>>,
    /// Hosts of the demo fleet.
    pub n_demo: usize,
    /// Hosts there can be: the demo fleet and one per client.
    pub max_hosts: usize,
    pub restart: Restart,
    /// Clients whose host has at least one acknowledged upload: every fleet answer has at least
    /// `n_demo` plus this many hosts.
    pub acked_hosts: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct KindStats {
    pub ok: u64,
    pub errors: u64,
    /// Attempts that failed in transport while the server was down, and were retried.
    pub retries: u64,
    /// Requests answered only after retrying across the restart.
    pub waited: u64,
    /// The longest such wait, from the first attempt to the answer.
    pub max_wait: Duration,
    /// Latency of each answered attempt, from its send to the end of its answer, in µs.
    pub latency_us: Vec<u32>,
}

/// An acknowledged upload: 2xx with a version.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub seq: u32,
    pub version: u32,
    pub before_kill: bool,
}

#[derive(Debug)]
pub struct ClientResult {
    pub kinds: Vec<KindStats>,
    /// The first few errors, each naming the request and what was wrong.
    pub errors: Vec<String>,
    pub host_id: String,
    pub acks: Vec<Ack>,
    /// An upload sent but never answered at the end (the soak's own end, not the restart).
    pub unanswered: Option<u32>,
}

/// xorshift64*: enough randomness for a request mix, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// The default mix, changed by `--mix kind=weight,...`.
pub fn parse_mix(text: Option<&str>) -> Result<[u64; KINDS.len()], String> {
    let mut w = KINDS.map(Kind::default_weight);
    for item in text
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let names: Vec<&str> = KINDS.iter().map(|k| k.short()).collect();
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--mix item '{item}' is not kind=weight, e.g. graph=0"))?;
        let kind = KINDS
            .iter()
            .find(|k| k.short() == name)
            .ok_or_else(|| format!("--mix: unknown kind '{name}'; kinds: {}", names.join(", ")))?;
        w[kind.index()] = value.parse().map_err(|_| {
            format!("--mix: weight of {name} must be a whole number, not '{value}'")
        })?;
    }
    if w.iter().all(|&x| x == 0) {
        return Err("--mix leaves every kind at weight 0".into());
    }
    Ok(w)
}

fn pick(rng: &mut Rng, weights: &[u64; KINDS.len()]) -> Kind {
    let total: u64 = weights.iter().sum();
    let mut r = rng.next() % total.max(1);
    for (k, &w) in KINDS.iter().zip(weights) {
        if r < w {
            return *k;
        }
        r -= w;
    }
    Kind::Health
}

/// The uploads of one client: its own host, a new label value each time so every upload is a
/// change (a new version). The profile is made per upload from the shared template, so 1,000
/// clients hold no profile of their own.
struct Uploader {
    template: Arc<HostProfile>,
    host_id: String,
    client: usize,
    seq: u32,
    last_version: u32,
    /// The current `seq` was sent once without an answer (the server died): a retry may find it
    /// stored already and answer `changed: false`.
    maybe_stored: bool,
}

impl Uploader {
    fn new(client: usize, template: Arc<HostProfile>) -> Self {
        Self {
            template,
            host_id: format!("soak-{client:04}"),
            client,
            seq: 1,
            last_version: 0,
            maybe_stored: false,
        }
    }

    fn body(&self) -> Result<Bytes, String> {
        let mut p = (*self.template).clone();
        p.host_id.clone_from(&self.host_id);
        p.hostname = format!("{}.soak.invalid", self.host_id);
        p.labels
            .insert("cluster".into(), format!("soak-{:02}", self.client % 50));
        p.labels.insert("soak-seq".into(), self.seq.to_string());
        serde_json::to_vec(&p)
            .map(Bytes::from)
            .map_err(|e| format!("cannot serialise {}: {e}", self.host_id))
    }

    /// Check a receipt: a change gets the next version; the same profile again only after an
    /// unanswered attempt, with the version that attempt got.
    fn check(&mut self, body: &[u8], before_kill: bool) -> Result<Ack, String> {
        let r: UploadReceipt = serde_json::from_slice(body)
            .map_err(|e| format!("upload receipt is not an UploadReceipt: {e}"))?;
        let want = self.last_version + 1;
        if r.host_id != self.host_id {
            return Err(format!(
                "upload of {} answered for host {}",
                self.host_id, r.host_id
            ));
        }
        if r.version != want || (!r.changed && !self.maybe_stored) {
            return Err(format!(
                "upload {} of {}: version {} changed={} (expected version {want}, changed={})",
                self.seq, self.host_id, r.version, r.changed, !self.maybe_stored
            ));
        }
        let ack = Ack {
            seq: self.seq,
            version: r.version,
            before_kill,
        };
        self.last_version = r.version;
        self.seq += 1;
        self.maybe_stored = false;
        Ok(ack)
    }
}

fn count_range(plan: &Plan, what: &str, n: usize, at_least: usize) -> Result<(), String> {
    if n < at_least || n > plan.max_hosts {
        return Err(format!(
            "{what}: {n} hosts, expected {at_least} to {} (the demo fleet plus every client host acknowledged before the request)",
            plan.max_hosts
        ));
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("{what}: the answer does not parse: {e}"))
}

/// Whether an answer is right; `at_least` hosts were acknowledged before the request was sent.
fn check_read(
    plan: &Plan,
    kind: Kind,
    pick: usize,
    body: &[u8],
    at_least: usize,
) -> Result<(), String> {
    match kind {
        Kind::Health => (body == b"ok")
            .then_some(())
            .ok_or_else(|| format!("health answered {:?}", String::from_utf8_lossy(body))),
        Kind::Hosts => {
            let l: HostList = parse("hosts", body)?;
            if l.n_hosts != l.hosts.len() {
                return Err(format!(
                    "hosts: n_hosts {} but {} listed",
                    l.n_hosts,
                    l.hosts.len()
                ));
            }
            count_range(plan, "hosts", l.n_hosts, at_least)
        }
        Kind::Compat => {
            let (path, want) = &plan.refs.compat[pick];
            let got: Verdict = parse("compat", body)?;
            (got == *want).then_some(()).ok_or_else(|| {
                format!(
                    "{path}: compatible={} with {} reasons, before the load compatible={} with {}",
                    got.compatible,
                    got.reasons.len(),
                    want.compatible,
                    want.reasons.len()
                )
            })
        }
        Kind::Graph => {
            let g: GraphAnswer = parse("graph", body)?;
            let in_classes: usize = g.graph.classes.iter().map(|c| c.hosts.len()).sum();
            let in_pools: usize = g.graph.pools.iter().map(|p| p.n_hosts).sum();
            if in_classes != g.graph.n_hosts
                || in_pools != g.graph.n_hosts
                || g.class_names.len() != g.graph.classes.len()
                || g.pool_names.len() != g.graph.pools.len()
            {
                return Err(format!(
                    "graph: n_hosts {} but {in_classes} in classes and {in_pools} in pools; {} class names for {} classes, {} pool names for {} pools",
                    g.graph.n_hosts,
                    g.class_names.len(),
                    g.graph.classes.len(),
                    g.pool_names.len(),
                    g.graph.pools.len()
                ));
            }
            count_range(plan, "graph", g.graph.n_hosts, at_least)
        }
        Kind::Pools => {
            let p: PoolList = parse("pools", body)?;
            let in_pools: usize = p.pools.iter().map(|p| p.n_hosts).sum();
            if in_pools != p.n_hosts {
                return Err(format!(
                    "pools: n_hosts {} but {in_pools} in pools",
                    p.n_hosts
                ));
            }
            count_range(plan, "pools", p.n_hosts, at_least)
        }
        Kind::Precheck => {
            let (_, want) = &plan.refs.precheck[pick];
            let got: PrecheckAnswer = parse("precheck", body)?;
            (got == *want).then_some(()).ok_or_else(|| {
                format!(
                    "precheck: {} of {} compatible, before the load {} of {}",
                    got.n_compatible, got.n_targets, want.n_compatible, want.n_targets
                )
            })
        }
        Kind::Fleet => {
            #[derive(serde::Deserialize)]
            struct Line {
                host_id: String,
            }
            let mut last: Option<String> = None;
            let mut n = 0;
            for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let l: Line = parse("fleet.jsonl line", line)?;
                if last.as_ref().is_some_and(|p| *p >= l.host_id) {
                    return Err(format!(
                        "fleet.jsonl: host {} after {} (not ordered by host id, or twice)",
                        l.host_id,
                        last.unwrap_or_default()
                    ));
                }
                last = Some(l.host_id);
                n += 1;
            }
            count_range(plan, "fleet.jsonl", n, at_least)
        }
        Kind::Upload => Ok(()),
    }
}

/// One client until the end of the soak.
pub async fn client(plan: &Plan, index: usize) -> ClientResult {
    let mut rng = Rng::new(u64::try_from(index).unwrap_or(0) + 1);
    let mut kinds: Vec<KindStats> = KINDS.iter().map(|_| KindStats::default()).collect();
    let mut errors = Vec::new();
    let mut acks = Vec::new();
    let mut unanswered = None;
    let template = Arc::clone(&plan.templates[index % plan.templates.len().max(1)]);
    let mut up = Uploader::new(index, template);
    let mut conn: Option<Conn> = None;
    // Clients start spread over the first second, as collectors' timers would be.
    tokio::time::sleep(Duration::from_micros(rng.next() % 1_000_000)).await;
    while Instant::now() < plan.end {
        let kind = pick(&mut rng, &plan.weights);
        let (req, choice) = match request(plan, kind, &mut rng, &up) {
            Ok(r) => r,
            Err(e) => {
                push_error(&mut errors, e);
                kinds[kind.index()].errors += 1;
                continue;
            }
        };
        let first = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut retried = false;
        let stats = &mut kinds[kind.index()];
        let outcome = loop {
            if conn.as_ref().is_some_and(|c| plan.restart.stale(c)) {
                conn = None;
            }
            let t0 = Instant::now();
            let at_least = plan.n_demo + plan.acked_hosts.load(Ordering::SeqCst);
            let sent = match conn.as_mut() {
                Some(c) => c.send(&req).await,
                None => match Conn::open(plan.addr).await {
                    Ok(c) => conn.insert(c).send(&req).await,
                    Err(e) => Err(e),
                },
            };
            match sent {
                Ok((status, body)) => break Ok((status, body, t0, at_least)),
                Err(Transport(e)) => {
                    conn = None;
                    if kind == Kind::Upload {
                        up.maybe_stored = true;
                    }
                    if !plan.restart.explains(t0) {
                        break Err(format!("{}: {e} while the server was up", kind.name()));
                    }
                    if Instant::now() > plan.give_up {
                        break Err(format!(
                            "{}: still failing at the end of the soak: {e}",
                            kind.name()
                        ));
                    }
                    stats.retries += 1;
                    retried = true;
                    let jitter = Duration::from_micros(rng.next() % 50_000);
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        };
        match outcome {
            Ok((status, body, t0, at_least)) => {
                let latency = t0.elapsed();
                let checked = if (200..300).contains(&status) {
                    if kind == Kind::Upload {
                        let before_kill = plan.restart.killed.get().is_none_or(|&k| t0 < k);
                        up.check(&body, before_kill).map(|ack| {
                            if ack.version == 1 {
                                plan.acked_hosts.fetch_add(1, Ordering::SeqCst);
                            }
                            acks.push(ack);
                        })
                    } else {
                        check_read(plan, kind, choice, &body, at_least)
                    }
                } else {
                    if kind == Kind::Upload {
                        // A 5xx may still have stored it: do not count that twice.
                        up.maybe_stored = true;
                    }
                    Err(format!(
                        "{} {}: status {status}: {}",
                        req.method,
                        req.path,
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ))
                };
                match checked {
                    Ok(()) => {
                        stats.ok += 1;
                        stats
                            .latency_us
                            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                        if retried {
                            stats.waited += 1;
                            stats.max_wait = stats.max_wait.max(first.elapsed());
                        }
                    }
                    Err(e) => {
                        stats.errors += 1;
                        push_error(&mut errors, e);
                    }
                }
            }
            Err(e) => {
                stats.errors += 1;
                push_error(&mut errors, e);
                if kind == Kind::Upload {
                    unanswered = Some(up.seq);
                }
            }
        }
        if !plan.think.is_zero() {
            tokio::time::sleep(plan.think).await;
        }
    }
    if up.maybe_stored && unanswered.is_none() {
        unanswered = Some(up.seq);
    }
    ClientResult {
        kinds,
        errors,
        host_id: up.host_id.clone(),
        acks,
        unanswered,
    }
}

fn push_error(errors: &mut Vec<String>, e: String) {
    if errors.len() < 3 {
        errors.push(e);
    }
}

/// The request of `kind`, and which reference answer it is checked against.
fn request(
    plan: &Plan,
    kind: Kind,
    rng: &mut Rng,
    up: &Uploader,
) -> Result<(Request, usize), String> {
    let get = |path: &str| Request {
        method: Method::GET,
        path: path.to_owned(),
        body: Bytes::new(),
        token: None,
    };
    Ok(match kind {
        Kind::Health => (get("/api/v1/health"), 0),
        Kind::Hosts => (get("/api/v1/hosts"), 0),
        Kind::Graph => (get("/api/v1/graph"), 0),
        Kind::Pools => (get("/api/v1/pools"), 0),
        Kind::Fleet => (get("/api/v1/fleet.jsonl"), 0),
        Kind::Compat => {
            let i = rng.below(plan.refs.compat.len());
            (get(&plan.refs.compat[i].0), i)
        }
        Kind::Precheck => {
            let i = rng.below(plan.refs.precheck.len());
            let body = plan.refs.precheck[i].0.clone();
            (
                Request {
                    method: Method::POST,
                    path: "/api/v1/precheck".into(),
                    body,
                    token: None,
                },
                i,
            )
        }
        Kind::Upload => (
            Request {
                method: Method::POST,
                path: "/api/v1/hosts".into(),
                body: up.body()?,
                token: Some(plan.token.clone()),
            },
            0,
        ),
    })
}
