//! `fleetcompat`: the server and its command-line tools.

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use backend::auth::{TokenSetup, ensure_read_token, ensure_write_token};
use backend::serve::ServeConfig;
use backend::{AppState, Store, app, demo, now_rfc3339};
use clap::{Parser, Subcommand};
use shared::profile::HostProfile;

#[derive(Parser)]
#[command(
    name = "fleetcompat",
    version,
    about = "Live-migration compatibility for a virtualization fleet: store host profiles, explain verdicts, serve the UI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Boxed: its options outgrow the other variant (clippy::large_enum_variant). A plain
    // comment: clap shows the doc comment as the command's help.
    /// Serve the REST API and the web UI
    Serve(Box<ServeArgs>),
    /// The engine subcommands (`compare`, `baseline`, ...): see `cli`. Boxed, as clap flattens a
    /// `Box<T: Subcommand>` like `T` (clap_builder src/derive.rs, `impl Subcommand for Box<T>`).
    #[command(flatten)]
    Engine(Box<cli::Command>),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// SQLite database file (created if missing), or a PostgreSQL URL (postgres://USER@HOST/DB)
    /// that several replicas can share.
    #[arg(long, env = "FLEETCOMPAT_DB", default_value = "fleetcompat.db")]
    db: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FLEETCOMPAT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Write token for uploads; by default one is created on first run and printed once.
    #[arg(long, env = "FLEETCOMPAT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read token, needed for API reads when listening on anything but loopback; by default one
    /// is created on first such run and printed once.
    #[arg(long, env = "FLEETCOMPAT_READ_TOKEN", hide_env_values = true)]
    read_token: Option<String>,
    /// Load the demo fleet (about 200 hosts of real processors) when the database has no hosts.
    #[arg(long)]
    demo: bool,
    /// Host profile files to store before serving (e.g. this machine's, from fleetcompat-collector).
    #[arg(long = "load", value_name = "PROFILE.json")]
    load: Vec<PathBuf>,
    /// Seconds a client has to send a request's headers (also closes idle connections).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a client has to send a request's body whole (else 408).
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    body_timeout: u64,
    /// Connections served at once (default: the open-files limit less 128).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Serve HTTPS with this PEM certificate chain (server certificate first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Reads need the read token (or a /login session) even on loopback, e.g. behind a proxy.
    #[arg(long)]
    require_read_token: bool,
    /// A name clients reach this server by (repeatable; the Host header must be one of them).
    /// Default on loopback: localhost and the listen address; '*' turns the check off.
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// Hours a /login session lasts.
    #[arg(long, value_name = "HOURS", default_value_t = 12)]
    session_hours: u64,
    /// Mark the session cookie Secure without --tls-cert: a TLS proxy is in front.
    #[arg(long)]
    secure_cookie: bool,
    #[command(flatten)]
    retention: RetentionArgs,
}

/// How much history the database keeps; applied at start and every hour. Versions are made only
/// by changes (an unchanged re-upload only updates the host's last-seen time); a host's newest
/// version is always kept.
#[derive(clap::Args)]
struct RetentionArgs {
    /// Profile versions kept per host, newest first (0: all).
    #[arg(
        long,
        env = "FLEETCOMPAT_KEEP_VERSIONS",
        value_name = "N",
        default_value_t = 100
    )]
    keep_versions: u32,
    /// Remove versions and guest events received more than D days ago (0: keep any age).
    #[arg(
        long,
        env = "FLEETCOMPAT_KEEP_DAYS",
        value_name = "D",
        default_value_t = 0
    )]
    keep_days: u32,
    /// Guest events (appeared, changed, disappeared) kept per host, newest first (0: all).
    #[arg(
        long,
        env = "FLEETCOMPAT_KEEP_GUEST_EVENTS",
        value_name = "N",
        default_value_t = 1000
    )]
    keep_guest_events: u32,
}

impl RetentionArgs {
    fn policy(&self) -> backend::store::Retention {
        let some = |n: u32| (n > 0).then_some(n);
        backend::store::Retention {
            keep_versions: some(self.keep_versions),
            keep_days: some(self.keep_days),
            keep_guest_events: some(self.keep_guest_events),
        }
    }
}

/// Apply the retention policy now and every hour (each replica may; the deletes are idempotent).
fn spawn_retention(store: Store, policy: backend::store::Retention) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            match store.prune(&policy, now).await {
                Ok(p) if p.versions + p.guest_events > 0 => tracing::info!(
                    versions = p.versions,
                    guest_events = p.guest_events,
                    "retention removed old history"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention pass failed; next try in an hour"),
            }
        }
    });
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Store(#[from] backend::store::StoreError),
    #[error(transparent)]
    Token(#[from] backend::auth::TokenError),
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error(transparent)]
    Tls(#[from] backend::tls::TlsError),
    #[error("cannot read profile {path}: {message}")]
    Profile { path: String, message: String },
    #[error(
        "cannot listen on {addr}: {source}: is another server running there? choose another with --listen"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(backend::tls::acceptor(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let store = Store::open(&args.db).await?;
    match ensure_write_token(&store, args.token.as_deref()).await? {
        TokenSetup::Created(token) => {
            eprintln!(
                "created the admin token (shown once; keep it; it also makes scoped tokens with `fleetcompat token create`):"
            );
            eprintln!("  {token}");
            eprintln!(
                "  use it as: fleetcompat-collector probe --post {scheme}://{} --token {token}",
                args.listen
            );
        }
        TokenSetup::Configured | TokenSetup::Existing => {}
    }
    let reads_need_token = !args.listen.ip().is_loopback() || args.require_read_token;
    if reads_need_token
        && let TokenSetup::Created(token) =
            ensure_read_token(&store, args.read_token.as_deref()).await?
    {
        eprintln!("created a read token for API clients (shown once; keep it):");
        eprintln!("  {token}");
        eprintln!(
            "  send it as 'Authorization: Bearer {token}'; in a browser, log in with it at /login"
        );
    }
    if args.demo && store.n_hosts().await? == 0 {
        let profiles = demo::demo_profiles(&now_rfc3339())?;
        let at = now_rfc3339();
        for p in &profiles {
            store.upsert(p, &at).await?;
        }
        eprintln!("loaded the demo fleet: {} hosts", profiles.len());
    }
    for path in &args.load {
        let err = |message: String| CliError::Profile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let p = HostProfile::from_json(&text).map_err(|e| err(e.to_string()))?;
        let up = store.upsert(&p, &now_rfc3339()).await?;
        eprintln!("stored {} (version {})", p.host_id, up.version);
    }
    if !backend::ui::frontend_built() {
        eprintln!(
            "warning: the web UI is not built; only the API is served (cargo xtask run builds it)"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| CliError::Listen {
            addr: args.listen,
            source,
        })?;
    eprintln!(
        "fleetcompat serving {} hosts on {scheme}://{} (database {})",
        store.n_hosts().await?,
        args.listen,
        store.target()
    );
    spawn_retention(store.clone(), args.retention.policy());
    let limits = backend::limits::Limits {
        body_timeout: Duration::from_secs(args.body_timeout.max(1)),
        ..backend::limits::Limits::default()
    };
    let state = AppState::new(store)
        .with_read_token_required(reads_need_token)
        .with_allowed_hosts(backend::allowed_hosts::AllowedHosts::for_listener(
            args.listen,
            &args.allowed_hosts,
        ))
        .with_sessions(
            tls.is_some() || args.secure_cookie,
            Duration::from_secs(args.session_hours.clamp(1, 24 * 366) * 3600),
        )
        .with_limits(limits);
    let config = ServeConfig {
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        max_connections: args.max_connections,
        tls,
        ..ServeConfig::default()
    };
    backend::serve::serve(listener, app(state), config, backend::serve::stop_signal()).await;
    Ok(())
}

/// jemalloc instead of glibc's malloc (feature `jemalloc`, default): an upload's parse, hash
/// and batch allocate a few hundred small blocks, and glibc's `malloc`/`free` (with
/// `malloc_consolidate`) were 15-20% of the server's CPU per upload. With jemalloc the server's
/// CPU per upload fell 10-30%, its peak memory about the same (BENCHMARKS.md, "Scale, session
/// of 2026-12-06 evening" and "night").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Engine(command) => return command.run(),
        Command::Serve(args) => *args,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLEETCOMPAT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(serve(args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
