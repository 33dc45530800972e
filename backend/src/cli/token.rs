//! `fleetcompat token create | list | revoke`: scoped write tokens, on the server's database
//! directly (`--db`) or through a running server's `/api/v1/tokens` with the admin token
//! (`--server URL`). `backend::auth` holds the rules either way; a running server sees a token
//! made or revoked on its database at its next request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::api::{ErrorBody, TokenCreated, TokenInfo, TokenList, TokenRequest};

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

/// Where the tokens are: a database, or a running server.
#[derive(clap::Args, Debug)]
struct Target {
    /// The server's database, as `fleetcompat serve --db` [default: $FLEETCOMPAT_DB, else
    /// fleetcompat.db]; it must exist.
    #[arg(long, value_name = "PATH", conflicts_with = "server")]
    db: Option<PathBuf>,
    /// Or a running server, e.g. https://fleet.example:8443: through /api/v1/tokens with the
    /// admin token (--admin-token or FLEETCOMPAT_TOKEN).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The admin token, for --server.
    #[arg(
        long,
        env = "FLEETCOMPAT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// PEM certificate(s) to trust for an https --server instead of the built-in Mozilla roots
    /// (its self-signed certificate or private CA).
    #[arg(long, value_name = "FILE", requires = "server")]
    ca: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    #[command(flatten)]
    target: Target,
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
    target: Target,
    /// Print `TokenList` as JSON (as `GET /api/v1/tokens` answers).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct RevokeArgs {
    #[command(flatten)]
    target: Target,
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

impl Target {
    fn database(&self) -> PathBuf {
        self.db
            .clone()
            .or_else(|| std::env::var_os("FLEETCOMPAT_DB").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("fleetcompat.db"))
    }

    fn create(&self, req: &TokenRequest) -> Result<TokenCreated, CliError> {
        match &self.server {
            Some(base) => {
                let body = serde_json::to_string(req).map_err(CliError::Json)?;
                self.call(base, "POST", "/api/v1/tokens", Some(&body))
            }
            None => with_store(&self.database(), async |store| {
                Ok(backend::auth::create_scoped(store, req, &backend::now_rfc3339()).await?)
            }),
        }
    }

    fn list(&self) -> Result<TokenList, CliError> {
        match &self.server {
            Some(base) => self.call(base, "GET", "/api/v1/tokens", None),
            None => with_store(&self.database(), async |store| {
                Ok(TokenList {
                    tokens: backend::auth::list_scoped(store).await?,
                })
            }),
        }
    }

    fn revoke(&self, id: &str) -> Result<(), CliError> {
        match &self.server {
            Some(base) => {
                // 204: no body to decode.
                self.call::<serde::de::IgnoredAny>(
                    base,
                    "DELETE",
                    &format!("/api/v1/tokens/{id}"),
                    None,
                )
                .map(|_| ())
            }
            None => {
                let db = self.database();
                let gone = with_store(&db, async |store| {
                    Ok(backend::auth::revoke_scoped(store, id).await?)
                })?;
                if gone {
                    Ok(())
                } else {
                    Err(CliError::invalid(
                        &db,
                        format!(
                            "no token '{id}': `fleetcompat token list --db {}` shows the ids",
                            db.display()
                        ),
                    ))
                }
            }
        }
    }

    /// One request to `/api/v1/tokens` with the admin token; its JSON answer.
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<T, CliError> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let server_err = |message: String| CliError::Server {
            url: url.clone(),
            message,
        };
        let Some(token) = self.admin_token.as_deref() else {
            return Err(server_err(
                "--server needs the admin token: --admin-token TOKEN or FLEETCOMPAT_TOKEN".into(),
            ));
        };
        let agent = agent(self.ca.as_deref()).map_err(server_err)?;
        let auth = format!("Bearer {token}");
        let sent = match (method, body) {
            ("POST", Some(body)) => agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(body.as_bytes()),
            ("DELETE", _) => agent.delete(&url).header("authorization", &auth).call(),
            _ => agent.get(&url).header("authorization", &auth).call(),
        };
        let mut resp = sent.map_err(|e| {
            server_err(format!(
                "{e}: is `fleetcompat serve` running there (an https server with a self-signed certificate needs --ca FILE)?"
            ))
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<ErrorBody>(&text)
                .map(|b| b.error.message)
                .unwrap_or(text);
            return Err(server_err(format!("{status}: {message}")));
        }
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|e| server_err(format!("unexpected answer: {e}")))
    }
}

/// Run `f` on the store of an existing database.
fn with_store<T>(
    db: &Path,
    f: impl AsyncFnOnce(&backend::Store) -> Result<T, CliError>,
) -> Result<T, CliError> {
    if !db.is_file() {
        return Err(CliError::NoDatabase(db.to_path_buf()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    rt.block_on(async {
        let store = backend::Store::open(db).await?;
        f(&store).await
    })
}

/// An HTTPS client trusting the built-in Mozilla roots (webpki-roots), or only `--ca`'s
/// certificates (as the collector does).
fn agent(ca: Option<&Path>) -> Result<ureq::Agent, String> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(path) = ca {
        let err = |m: String| format!("cannot use --ca {}: {m}", path.display());
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let PemItem::Certificate(c) = item.map_err(|e| err(e.to_string()))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(err(
                "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(tls.build())
        .build()
        .new_agent())
}

fn scope(t: &TokenInfo) -> String {
    if t.hosts.is_empty() {
        let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("hosts labelled {}", labels.join(","))
    } else {
        format!("host(s) {}", t.hosts.join(", "))
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(value).map_err(CliError::Json)?;
    outln!("{json}");
    Ok(())
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
                let created = a.target.create(&req)?;
                if a.json {
                    print_json(&created)?;
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
                let list = a.target.list()?;
                if a.json {
                    print_json(&list)?;
                } else if list.tokens.is_empty() {
                    eprintln!("no scoped tokens");
                } else {
                    for t in &list.tokens {
                        outln!("{}  {}  {}  {}", t.id, t.created_at, t.name, scope(t));
                    }
                }
            }
            TokenAction::Revoke(a) => {
                a.target.revoke(&a.id)?;
                eprintln!("revoked token {}", a.id);
            }
        }
        Ok(EXIT_OK)
    }
}
