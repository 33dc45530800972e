//! `fleetcompat token create | list | revoke`: scoped write tokens, on the server's database
//! directly (the records `/api/v1/tokens` manages with the admin token; `backend::auth` holds
//! the rules). A running server sees a new or revoked token at its next request.

use std::path::{Path, PathBuf};

use shared::api::{TokenInfo, TokenList, TokenRequest};

use super::error::CliError;
use super::{EXIT_OK, Run};

/// `fleetcompat token`.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
}

#[derive(clap::Subcommand, Debug)]
enum TokenAction {
    /// Create a token that uploads and deletes only some hosts (--host) or hosts carrying labels
    /// (--label); its secret is printed once, on stdout.
    Create(CreateArgs),
    /// The scoped tokens: id, name, scope, creation time (no secrets: the database has none).
    List(ListArgs),
    /// Revoke a token by its id (`token list` shows them): it stops working at once.
    Revoke(RevokeArgs),
}

/// The database every token command works on.
#[derive(clap::Args, Debug)]
struct DbPath {
    /// The server's database (as `fleetcompat serve --db`); it must exist.
    #[arg(long, env = "FLEETCOMPAT_DB", default_value = "fleetcompat.db")]
    db: PathBuf,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    #[command(flatten)]
    db: DbPath,
    /// A host id the token may write (repeatable).
    #[arg(long = "host", value_name = "ID", required_unless_present = "labels")]
    hosts: Vec<String>,
    /// A label every host the token writes must carry, KEY=VALUE (repeatable: all of them).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label, conflicts_with = "hosts")]
    labels: Vec<(String, String)>,
    /// A name to recognise the token by (default: its scope).
    #[arg(long)]
    name: Option<String>,
    /// Print `TokenCreated` as JSON (as `POST /api/v1/tokens` answers) instead of the secret.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    db: DbPath,
    /// Print `TokenList` as JSON (as `GET /api/v1/tokens` answers).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct RevokeArgs {
    #[command(flatten)]
    db: DbPath,
    /// The token's id.
    id: String,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!(
            "label '{s}' is not KEY=VALUE: write it like --label cluster=c1"
        )),
    }
}

fn token_error(db: &Path, message: impl std::fmt::Display) -> CliError {
    CliError::Invalid {
        path: db.to_path_buf(),
        message: message.to_string(),
    }
}

/// Run `f` on the store of an existing database.
fn with_store<T>(
    db: &Path,
    f: impl AsyncFnOnce(&backend::Store) -> Result<T, backend::auth::TokenError>,
) -> Result<T, CliError> {
    if !db.is_file() {
        return Err(token_error(
            db,
            "no such database: give the server's database with --db (or FLEETCOMPAT_DB)",
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| token_error(db, format!("cannot start a runtime: {e}")))?;
    rt.block_on(async {
        let store = backend::Store::open(db)
            .await
            .map_err(|e| token_error(db, e))?;
        f(&store).await.map_err(|e| token_error(db, e))
    })
}

fn scope(t: &TokenInfo) -> String {
    if t.hosts.is_empty() {
        let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("hosts labelled {}", labels.join(","))
    } else {
        format!("host(s) {}", t.hosts.join(", "))
    }
}

impl Run for TokenArgs {
    fn run(&self) -> Result<u8, CliError> {
        match &self.action {
            TokenAction::Create(a) => {
                let req = TokenRequest {
                    hosts: a.hosts.clone(),
                    labels: a.labels.iter().cloned().collect(),
                    name: a.name.clone(),
                };
                let now = backend::now_rfc3339();
                let created = with_store(&a.db.db, async |s| {
                    backend::auth::create_scoped(s, &req, &now).await
                })?;
                if a.json {
                    let json = serde_json::to_string_pretty(&created)
                        .map_err(|e| token_error(&a.db.db, e))?;
                    outln!("{json}");
                } else {
                    eprintln!(
                        "created token {} ('{}') for {}; its secret, shown once (the collector's --token or FLEETCOMPAT_TOKEN):",
                        created.token.id,
                        created.token.name,
                        scope(&created.token)
                    );
                    outln!("{}", created.secret);
                }
            }
            TokenAction::List(a) => {
                let tokens = with_store(&a.db.db, async |s| backend::auth::list_scoped(s).await)?;
                if a.json {
                    let json = serde_json::to_string_pretty(&TokenList { tokens })
                        .map_err(|e| token_error(&a.db.db, e))?;
                    outln!("{json}");
                } else if tokens.is_empty() {
                    eprintln!("no scoped tokens in {}", a.db.db.display());
                } else {
                    for t in &tokens {
                        outln!("{}  {}  {}  {}", t.id, t.created_at, t.name, scope(t));
                    }
                }
            }
            TokenAction::Revoke(a) => {
                let gone = with_store(&a.db.db, async |s| {
                    backend::auth::revoke_scoped(s, &a.id).await
                })?;
                if !gone {
                    return Err(token_error(
                        &a.db.db,
                        format!(
                            "no token '{}': `fleetcompat token list --db {}` shows the ids",
                            a.id,
                            a.db.db.display()
                        ),
                    ));
                }
                eprintln!("revoked token {}", a.id);
            }
        }
        Ok(EXIT_OK)
    }
}
