//! Where profiles go: a file, stdout, a SQLite database (the backend's store), or the backend's
//! REST API through an on-disk spool, so a backend outage loses nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::api::{ErrorBody, UploadReceipt};
use shared::profile::HostProfile;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("invalid --host-id: {0}")]
    BadHostId(String),
    #[error("cannot encode the profile as json: {0}")]
    Encode(serde_json::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot reach the backend at {url}: {message}: is `fleetcompat serve` running there?")]
    Unreachable { url: String, message: String },
    /// The TLS handshake failed: the certificate is not trusted or does not name the host.
    #[error("the TLS connection to {url} failed: {message}: {advice}")]
    Tls {
        url: String,
        message: String,
        advice: &'static str,
    },
    #[error("cannot use --ca {path}: {message}")]
    Ca { path: String, message: String },
    #[error("the backend at {url} refused the profile ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("database {path}: {message}")]
    Db { path: String, message: String },
    #[error("{0}")]
    Spooled(String),
    #[error("{0}")]
    Input(String),
}

impl OutputError {
    /// Keep the profile for a later run: the backend is down or overloaded, or refuses the
    /// token (an operator fixes that), rather than refusing the profile itself.
    fn is_transient(&self) -> bool {
        match self {
            Self::Refused { status, .. } => matches!(status, 401 | 403) || self.is_retriable(),
            // An operator fixes the certificate or --ca; the profile waits for that.
            Self::Tls { .. } => true,
            _ => self.is_retriable(),
        }
    }

    /// Worth another attempt within this run.
    fn is_retriable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            // 408: the server gave up waiting for the body (a slow link); RFC 9110 section
            // 15.5.9 lets the client repeat the request. 429: too many requests.
            Self::Refused { status, .. } => *status >= 500 || matches!(*status, 408 | 429),
            _ => false,
        }
    }
}

/// Write atomically: a temporary file beside the target, then rename. Creates parent folders.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), OutputError> {
    let err = |source| OutputError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text.as_bytes()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Write a profile file atomically. Something that is not a regular file (`/dev/null`, a FIFO,
/// `/dev/stdout`) is written in place: renaming over it would replace the device itself.
pub fn write_file(path: &Path, json: &str) -> Result<(), OutputError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            std::fs::write(path, json.as_bytes()).map_err(|source| OutputError::Write {
                path: path.display().to_string(),
                source,
            })
        }
        _ => write_atomic(path, json),
    }
}

/// Store profiles in the backend's SQLite database (same schema and migrations).
#[cfg(feature = "db")]
pub fn store_db(
    path: &Path,
    profiles: &[HostProfile],
) -> Result<Vec<(String, u32, bool)>, OutputError> {
    let err = |message: String| OutputError::Db {
        path: path.display().to_string(),
        message,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(format!("cannot start a runtime: {e}")))?;
    rt.block_on(async {
        let store = store::Store::open(path)
            .await
            .map_err(|e| err(e.to_string()))?;
        let now = crate::now_rfc3339();
        let mut out = Vec::new();
        for p in profiles {
            let u = store
                .upsert(p, &now)
                .await
                .map_err(|e| err(e.to_string()))?;
            out.push((p.host_id.clone(), u.version, u.changed));
        }
        Ok(out)
    })
}

/// Without the `db` feature there is no database output.
#[cfg(not(feature = "db"))]
pub fn store_db(path: &Path, _: &[HostProfile]) -> Result<Vec<(String, u32, bool)>, OutputError> {
    Err(OutputError::Db {
        path: path.display().to_string(),
        message: "this build has no database support (built without the `db` feature): use --out or --post".into(),
    })
}

/// The HTTP(S) client: rustls (ring) trusting Mozilla's roots as webpki-roots compiles them in
/// (the same on every host, no CA package needed), or, with `--ca FILE`, only the certificates of
/// that PEM file (a private CA or a self-signed server certificate), as `curl --cacert` does.
pub fn agent(ca: Option<&Path>) -> Result<ureq::Agent, OutputError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(path) = ca {
        let err = |message: String| OutputError::Ca {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item.map_err(|e| err(e.to_string()))? {
                PemItem::Certificate(c) => certs.push(c),
                PemItem::PrivateKey(_) => {
                    return Err(err(
                        "it holds a private key: give the certificate only, never its key".into(),
                    ));
                }
                _ => {}
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

/// Is this failure the TLS handshake (rustls refused the certificate or the connection)? rustls
/// 0.23 src/conn.rs, `ConnectionCommon::complete_io`, hands its `rustls::Error` to ureq inside an
/// `io::Error` of kind `InvalidData`; ureq 3 src/error.rs keeps that as `Error::Io`.
fn is_tls_failure(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Rustls(_))
        || matches!(e, ureq::Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()))
}

/// What to do about a certificate rustls refused, by its reason as rustls 0.23 shows it
/// (src/error.rs, `CertificateError`: `UnknownIssuer`, `Expired`, `NotValidYet` by name,
/// `NotValidForNameContext` as "certificate not valid for name ..."; rustls-webpki's
/// `CaUsedAsEndEntity` inside `Other`).
fn tls_advice(message: &str) -> &'static str {
    if message.contains("UnknownIssuer") {
        "the certificate is self-signed or from a CA this collector does not trust: give that certificate or its CA (PEM) with --ca FILE"
    } else if message.contains("CaUsedAsEndEntity") {
        "the server's certificate is marked as a CA (`openssl req -x509` does that unless told `-addext basicConstraints=critical,CA:FALSE`), which TLS refuses for a server: make it again without CA:TRUE, or issue the server a certificate from that CA and give the CA with --ca FILE"
    } else if message.contains("not valid for name") || message.contains("NotValidForName") {
        "the certificate does not name the host of the URL: use a name or address it lists (its subjectAltName) in --post, or reissue it"
    } else if message.contains("Expired") || message.contains("NotValidYet") {
        "the certificate is outside its validity period: renew it on the server, or check this host's clock"
    } else {
        "if the server's certificate is self-signed or from a private CA, give it (PEM) with --ca FILE"
    }
}

/// POST the profile to `{base}/api/v1/hosts` with the write token, once.
pub fn post(
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    json: &str,
) -> Result<UploadReceipt, OutputError> {
    let url = format!("{}/api/v1/hosts", base.trim_end_matches('/'));
    let mut resp = agent
        .post(&url)
        .header("authorization", &format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(json)
        .map_err(|e| {
            if is_tls_failure(&e) {
                let message = e.to_string();
                OutputError::Tls {
                    url: url.clone(),
                    advice: tls_advice(&message),
                    message,
                }
            } else {
                OutputError::Unreachable {
                    url: url.clone(),
                    message: e.to_string(),
                }
            }
        })?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if (200..300).contains(&status) {
        serde_json::from_str(&body).map_err(|e| OutputError::Refused {
            url,
            status,
            message: format!("unexpected answer: {e}"),
        })
    } else {
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.error.message)
            .unwrap_or(body);
        Err(OutputError::Refused {
            url,
            status,
            message,
        })
    }
}

/// How to deliver to a backend.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub url: String,
    pub token: String,
    pub spool: PathBuf,
    /// Attempts per profile (at least 1).
    pub attempts: u32,
    /// First backoff delay; doubled after each failed attempt, at most 60 s.
    pub backoff: Duration,
    /// The client (its TLS roots: `agent(--ca)`).
    pub agent: ureq::Agent,
}

/// The default spool: /var/lib/fleetcompat/spool for root, else
/// $XDG_STATE_HOME/fleetcompat/spool or ~/.local/state/fleetcompat/spool.
pub fn default_spool() -> PathBuf {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    if is_root {
        return PathBuf::from("/var/lib/fleetcompat/spool");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("fleetcompat/spool");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/state/fleetcompat/spool"))
        .unwrap_or_else(|| PathBuf::from(".fleetcompat-spool"))
}

fn post_with_retries(d: &Delivery, json: &str) -> Result<UploadReceipt, OutputError> {
    let mut delay = d.backoff;
    let mut attempt = 1;
    loop {
        match post(&d.agent, &d.url, &d.token, json) {
            Ok(r) => return Ok(r),
            Err(e) if e.is_retriable() && attempt < d.attempts.max(1) => {
                eprintln!(
                    "warning: attempt {attempt} of {}: {e}; retrying in {delay:?}",
                    d.attempts
                );
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(60));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Spooled profiles, oldest first.
pub fn spooled(spool: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spool)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Send what earlier runs spooled, then `profiles` (each spooled first, removed once the backend
/// took it). Stops at the first transient failure: the rest stays in the spool for the next run.
/// A profile the backend refuses for its content moves to `spool/rejected/`.
pub fn deliver(d: &Delivery, profiles: &[HostProfile]) -> Result<usize, OutputError> {
    // One run at a time sends from a spool, so no spooled profile goes out twice.
    let lock_path = d.spool.join(".lock");
    std::fs::create_dir_all(&d.spool).map_err(|source| OutputError::Write {
        path: d.spool.display().to_string(),
        source,
    })?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| OutputError::Write {
            path: lock_path.display().to_string(),
            source,
        })?;
    lock.lock().map_err(|source| OutputError::Write {
        path: lock_path.display().to_string(),
        source,
    })?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or(0);
    let already = spooled(&d.spool);
    let mut queue = Vec::new();
    for (i, p) in profiles.iter().enumerate() {
        let json = serde_json::to_string_pretty(p).map_err(OutputError::Encode)?;
        let path = d
            .spool
            .join(format!("{nanos:024}-{i:06}-{}.json", p.host_id));
        write_atomic(&path, &json)?;
        queue.push(path);
    }
    if !already.is_empty() {
        eprintln!(
            "sending {} profile(s) spooled by earlier runs from {}",
            already.len(),
            d.spool.display()
        );
    }
    let (mut sent, mut refused) = (0, 0);
    for path in already.iter().chain(queue.iter()) {
        let json = match std::fs::read_to_string(path) {
            Ok(j) => j,
            Err(e) => {
                eprintln!("warning: cannot read spooled {}: {e}", path.display());
                continue;
            }
        };
        match post_with_retries(d, &json) {
            Ok(r) => {
                eprintln!(
                    "sent profile of {} to {}: version {}{}",
                    r.host_id,
                    d.url,
                    r.version,
                    if r.changed { "" } else { " (unchanged)" }
                );
                std::fs::remove_file(path).map_err(|source| OutputError::Write {
                    path: path.display().to_string(),
                    source,
                })?;
                sent += 1;
            }
            Err(e) if e.is_transient() => {
                let left = spooled(&d.spool).len();
                return Err(OutputError::Spooled(format!(
                    "{e}; {left} profile(s) kept in the spool {} and sent on the next run",
                    d.spool.display()
                )));
            }
            Err(e) => {
                let rejected = d.spool.join("rejected");
                let _ = std::fs::create_dir_all(&rejected);
                if let Some(name) = path.file_name() {
                    let _ = std::fs::rename(path, rejected.join(name));
                }
                eprintln!(
                    "error: {e}; the profile was moved to {}",
                    rejected.display()
                );
                refused += 1;
            }
        }
    }
    if refused > 0 {
        return Err(OutputError::Spooled(format!(
            "the backend refused {refused} profile(s); see {}",
            d.spool.join("rejected").display()
        )));
    }
    Ok(sent)
}

/// Write `text` and a newline to stdout. A closed stdout (`... | head`) is no error: the reader
/// has what it wanted.
pub fn write_stdout(text: &str) -> Result<(), OutputError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(OutputError::Write {
            path: "stdout".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_to_a_device_keeps_the_device() {
        write_file(Path::new("/dev/null"), "{}").expect("write to /dev/null");
        let meta = std::fs::metadata("/dev/null").expect("/dev/null");
        assert!(!meta.is_file(), "/dev/null was replaced by a regular file");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.json");
        write_file(&file, "{\"a\":1}").expect("write a file");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "{\"a\":1}");
    }

    #[test]
    fn tls_failures_get_advice_for_their_reason() {
        // Messages as ureq printed them against real servers (see docs/collector.md).
        let cases = [
            ("io: invalid peer certificate: UnknownIssuer", "--ca FILE"),
            (
                "io: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                "CA:FALSE",
            ),
            (
                "io: invalid peer certificate: certificate not valid for name \"localhost\"",
                "subjectAltName",
            ),
            ("io: invalid peer certificate: Expired", "renew"),
        ];
        for (message, needle) in cases {
            assert!(tls_advice(message).contains(needle), "{message}");
        }
        let e = OutputError::Tls {
            url: "https://h/api/v1/hosts".into(),
            message: "x".into(),
            advice: "y",
        };
        assert!(e.is_transient() && !e.is_retriable());
    }

    #[test]
    fn a_slow_body_refused_with_408_is_retried_not_rejected() {
        let refused = |status| OutputError::Refused {
            url: "http://127.0.0.1:1".into(),
            status,
            message: String::new(),
        };
        for status in [408, 429, 500, 503] {
            assert!(refused(status).is_retriable(), "{status}");
            assert!(refused(status).is_transient(), "{status}");
        }
        // A profile the backend refuses for its content is not sent again.
        for status in [400, 413, 422] {
            assert!(!refused(status).is_transient(), "{status}");
        }
    }
}
