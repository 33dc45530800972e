//! Tokens and who may do what.
//!
//! - The *admin token* is the write token `fleetcompat serve` creates on first run (or is given
//!   with `--token`): it uploads and deletes any host and manages scoped tokens.
//! - A *scoped token* (`fleetcompat token create`, `POST /api/v1/tokens`) uploads and deletes only
//!   the hosts of its scope: a list of host ids, or labels every such host carries.
//! - The *read token* reads the API (when reads need a token) and is what `/login` takes.
//!
//! The database keeps no token: only `s1$SALT$HASH`, SHA-256 over a random per-token salt and the
//! token, compared in constant time. A database from before salting holds a bare SHA-256 of the
//! admin and read tokens; it keeps working and is rewritten salted the first time the token is
//! presented (nobody is locked out). Scoped tokens are rows `token:ID` of `settings`.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use shared::api::{TokenCreated, TokenInfo, TokenRequest};

use crate::error::ApiError;
use crate::store::{Store, StoreError};

const WRITE_TOKEN_SETTING: &str = "write_token_sha256";
const READ_TOKEN_SETTING: &str = "read_token_sha256";
/// Scoped tokens: one setting per token, `token:ID`.
const SCOPED_PREFIX: &str = "token:";
/// How a scoped token's secret starts: `fcs_ID_SECRET`, so its record is found without a scan.
const SCOPED_TOKEN_PREFIX: &str = "fcs_";
/// Salted hashes start so; anything else stored is a bare SHA-256 from before.
const SALTED: &str = "s1$";

/// Hosts one scoped token may name, and labels one scope may require.
pub const MAX_SCOPE_HOSTS: usize = 1_000;
pub const MAX_SCOPE_LABELS: usize = 32;
const MAX_TOKEN_NAME: usize = 200;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    use std::io::Read;
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// 32 random bytes from the OS, hex.
fn random_token() -> std::io::Result<String> {
    Ok(format!("fc_{}", hex(&random_bytes::<32>()?)))
}

/// Equal bytes, in a time that depends on the lengths only (no early exit at the first
/// difference): the hashes compared here are of equal length, so nothing leaks.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn salted_hash(salt: &[u8], token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(token.as_bytes());
    h.finalize().into()
}

/// The stored form of a token: `s1$SALT$SHA256(SALT || TOKEN)`, hex, with 16 random salt bytes.
pub fn hash_token(token: &str) -> std::io::Result<String> {
    let salt = random_bytes::<16>()?;
    Ok(format!(
        "{SALTED}{}${}",
        hex(&salt),
        hex(&salted_hash(&salt, token))
    ))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How a presented token compares with a stored one.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Match,
    /// It matches a bare SHA-256 from before salting: rewrite it salted.
    MatchUnsalted,
    NoMatch,
}

fn check(stored: &str, presented: &str) -> Check {
    if presented.is_empty() {
        return Check::NoMatch;
    }
    if let Some(rest) = stored.strip_prefix(SALTED) {
        let parsed = rest
            .split_once('$')
            .and_then(|(salt, hash)| Some((unhex(salt)?, unhex(hash)?)));
        return match parsed {
            Some((salt, hash)) if constant_time_eq(&salted_hash(&salt, presented), &hash) => {
                Check::Match
            }
            _ => Check::NoMatch,
        };
    }
    let bare = hex(&Sha256::digest(presented.as_bytes()));
    if constant_time_eq(bare.as_bytes(), stored.as_bytes()) {
        Check::MatchUnsalted
    } else {
        Check::NoMatch
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create a token: reading /dev/urandom failed: {0}")]
    Random(std::io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("stored token {name} cannot be read ({message}): revoke it and create it again")]
    Corrupt { name: String, message: String },
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid(m) => ApiError::bad_request("invalid_scope", m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// What `ensure_write_token` did.
#[derive(Debug)]
pub enum TokenSetup {
    /// A configured token is in force.
    Configured,
    /// A token from an earlier run is in force.
    Existing,
    /// A new token was made; show it to the operator once.
    Created(String),
}

/// Make sure an admin (write) token exists: the configured one, the stored one, or a new one.
pub async fn ensure_write_token(
    store: &Store,
    configured: Option<&str>,
) -> Result<TokenSetup, TokenError> {
    ensure_token(store, WRITE_TOKEN_SETTING, configured).await
}

/// Make sure a read token exists (when reads need one): the configured one, the stored one, or
/// a new one.
pub async fn ensure_read_token(
    store: &Store,
    configured: Option<&str>,
) -> Result<TokenSetup, TokenError> {
    ensure_token(store, READ_TOKEN_SETTING, configured).await
}

async fn ensure_token(
    store: &Store,
    setting: &str,
    configured: Option<&str>,
) -> Result<TokenSetup, TokenError> {
    if let Some(token) = configured {
        if token.starts_with(SCOPED_TOKEN_PREFIX) {
            return Err(TokenError::Invalid(format!(
                "a configured token must not start with '{SCOPED_TOKEN_PREFIX}' (scoped tokens do): choose another"
            )));
        }
        // Keep the stored hash (and its salt) when it is this token already.
        let current = store.setting(setting).await?;
        if current.as_deref().map(|s| check(s, token)) != Some(Check::Match) {
            let hashed = hash_token(token).map_err(TokenError::Random)?;
            store.set_setting(setting, &hashed).await?;
        }
        return Ok(TokenSetup::Configured);
    }
    if store.setting(setting).await?.is_some() {
        return Ok(TokenSetup::Existing);
    }
    let token = random_token().map_err(TokenError::Random)?;
    let hashed = hash_token(&token).map_err(TokenError::Random)?;
    store.set_setting(setting, &hashed).await?;
    Ok(TokenSetup::Created(token))
}

/// Whether `presented` is the token stored under `setting`; a bare SHA-256 from before salting
/// is rewritten salted on the way.
async fn matches_setting(
    store: &Store,
    setting: &str,
    presented: &str,
) -> Result<bool, StoreError> {
    let Some(stored) = store.setting_recent(setting).await? else {
        return Ok(false);
    };
    match check(&stored, presented) {
        Check::Match => Ok(true),
        Check::MatchUnsalted => {
            if let Ok(hashed) = hash_token(presented) {
                store.set_setting(setting, &hashed).await?;
            }
            Ok(true)
        }
        Check::NoMatch => Ok(false),
    }
}

/// A scoped token as stored (the value of its `token:ID` setting, JSON).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredScoped {
    #[serde(flatten)]
    info: TokenInfo,
    hash: String,
}

/// What a scoped token may write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope(pub TokenInfo);

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.0;
        write!(f, "token {} ('{}') may write ", t.id, t.name)?;
        if t.hosts.is_empty() {
            let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write!(f, "only hosts labelled {}", labels.join(","))
        } else {
            write!(f, "only host(s) {}", t.hosts.join(", "))
        }
    }
}

impl Scope {
    fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// May this token write `host_id`, whose profile carries `uploaded` labels (an upload) and
    /// whose stored profile, if any, carries `stored`? A label scope needs both to match, so a
    /// token cannot take over another cluster's host by relabelling it.
    pub fn allows(
        &self,
        host_id: &str,
        uploaded: Option<&BTreeMap<String, String>>,
        stored: Option<&BTreeMap<String, String>>,
    ) -> Result<(), ApiError> {
        if !self.0.hosts.is_empty() {
            return if self.0.hosts.iter().any(|h| h == host_id) {
                Ok(())
            } else {
                Err(ApiError::Forbidden(format!(
                    "{self}, not host '{host_id}': use the admin token or a token for that host"
                )))
            };
        }
        let refuse = |which: &str, labels: &BTreeMap<String, String>| {
            let have: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Err(ApiError::Forbidden(format!(
                "{self}; host '{host_id}' {which} [{}]: use the admin token or a token for its labels",
                have.join(",")
            )))
        };
        if let Some(l) = uploaded.filter(|l| !self.labels_match(l)) {
            return refuse("is uploaded with labels", l);
        }
        if let Some(l) = stored.filter(|l| !self.labels_match(l)) {
            return refuse("is stored with labels", l);
        }
        Ok(())
    }
}

/// Who wrote: the admin token or a scoped one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writer {
    Admin,
    Scoped(Scope),
}

/// Who a presented token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    Admin,
    Read,
    Scoped(Scope),
    Unknown,
}

/// Find the token: admin, read, scoped (by the id in its secret), or none of them.
pub async fn identify(store: &Store, presented: &str) -> Result<Holder, ApiError> {
    if presented.is_empty() {
        return Ok(Holder::Unknown);
    }
    if let Some(rest) = presented.strip_prefix(SCOPED_TOKEN_PREFIX) {
        let Some((id, _)) = rest.split_once('_') else {
            return Ok(Holder::Unknown);
        };
        if !valid_id(id) {
            return Ok(Holder::Unknown);
        }
        let Some(value) = store
            .setting_recent(&format!("{SCOPED_PREFIX}{id}"))
            .await?
        else {
            return Ok(Holder::Unknown);
        };
        let stored: StoredScoped = serde_json::from_str(&value)
            .map_err(|e| ApiError::Internal(format!("scoped token {id}: {e}")))?;
        return Ok(if check(&stored.hash, presented) == Check::Match {
            Holder::Scoped(Scope(stored.info))
        } else {
            Holder::Unknown
        });
    }
    if matches_setting(store, WRITE_TOKEN_SETTING, presented).await? {
        return Ok(Holder::Admin);
    }
    if matches_setting(store, READ_TOKEN_SETTING, presented).await? {
        return Ok(Holder::Read);
    }
    Ok(Holder::Unknown)
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default()
    })
}

/// The session cookie `/login` sets (never the token itself).
pub const SESSION_COOKIE: &str = "fleetcompat_session";

pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), K padded to the 64-byte block.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > k.len() {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn session_mac(read_token_record: &str, expires: u64) -> String {
    hex(&hmac_sha256(
        read_token_record.as_bytes(),
        format!("fleetcompat-session:{expires}").as_bytes(),
    ))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A session cookie value for `max_age_secs`: `EXPIRES.MAC`, keyed by the stored read token (its
/// salted hash, which only the server has), so a new read token ends every session and the
/// browser never holds the token.
pub async fn new_session(store: &Store, max_age_secs: u64) -> Result<String, ApiError> {
    let record = store
        .setting(READ_TOKEN_SETTING)
        .await?
        .ok_or_else(|| ApiError::Internal("no read token stored".into()))?;
    let expires = now_secs().saturating_add(max_age_secs);
    Ok(format!("{expires}.{}", session_mac(&record, expires)))
}

async fn valid_session(store: &Store, value: &str) -> Result<bool, ApiError> {
    let Some((expires, mac)) = value.split_once('.') else {
        return Ok(false);
    };
    let Ok(expires) = expires.parse::<u64>() else {
        return Ok(false);
    };
    if expires <= now_secs() {
        return Ok(false);
    }
    let Some(record) = store.setting_recent(READ_TOKEN_SETTING).await? else {
        return Ok(false);
    };
    Ok(constant_time_eq(
        session_mac(&record, expires).as_bytes(),
        mac.as_bytes(),
    ))
}

/// Reads when they need a token: the read token or the admin token as a bearer header, or the
/// session cookie `/login` sets.
pub async fn require_read(store: &Store, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(presented) = bearer(headers) {
        return match identify(store, presented).await? {
            Holder::Read | Holder::Admin => Ok(()),
            Holder::Scoped(scope) => Err(ApiError::Forbidden(format!(
                "{scope}; it cannot read: send the read token instead"
            ))),
            Holder::Unknown => Err(ApiError::Unauthorized(
                "the bearer token is neither this server's read token nor its admin token".into(),
            )),
        };
    }
    match cookie(headers, SESSION_COOKIE) {
        Some(session) if valid_session(store, session).await? => Ok(()),
        Some(_) => Err(ApiError::Unauthorized(
            "the login session has expired or the read token changed: log in again at /login"
                .into(),
        )),
        None => Err(ApiError::Unauthorized(
            "this server needs a token for reads: send 'Authorization: Bearer TOKEN' with the read token; in a browser, log in with the read token at /login".into(),
        )),
    }
}

/// The `Authorization: Bearer` token of a write: the admin token or a scoped one.
pub async fn require_write(store: &Store, headers: &HeaderMap) -> Result<Writer, ApiError> {
    let Some(presented) = bearer(headers) else {
        return Err(ApiError::Unauthorized(
            "writes need a bearer token: send 'Authorization: Bearer TOKEN' with the admin token (`fleetcompat serve` printed it on first run) or a scoped token (`fleetcompat token create`)".into(),
        ));
    };
    match identify(store, presented).await? {
        Holder::Admin => Ok(Writer::Admin),
        Holder::Scoped(scope) => Ok(Writer::Scoped(scope)),
        Holder::Read => Err(ApiError::Forbidden(
            "that is the read token, which cannot write: send the admin token or a scoped token"
                .into(),
        )),
        Holder::Unknown => Err(ApiError::Unauthorized(
            "the bearer token is not one of this server's write tokens (admin or scoped)".into(),
        )),
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Check a scope: host ids or labels, not both, not neither, within the limits.
fn validate_request(req: &TokenRequest) -> Result<(), TokenError> {
    let invalid = |m: String| Err(TokenError::Invalid(m));
    match (req.hosts.is_empty(), req.labels.is_empty()) {
        (true, true) => {
            return invalid(
                "a scoped token needs a scope: one or more hosts (--host ID) or labels (--label KEY=VALUE)".into(),
            );
        }
        (false, false) => {
            return invalid(
                "a scoped token is for hosts or for labels, not both: create two tokens".into(),
            );
        }
        _ => {}
    }
    if req.hosts.len() > MAX_SCOPE_HOSTS {
        return invalid(format!(
            "{} hosts in one scope, more than the limit of {MAX_SCOPE_HOSTS}: use a label scope",
            req.hosts.len()
        ));
    }
    if req.labels.len() > MAX_SCOPE_LABELS {
        return invalid(format!(
            "{} labels in one scope, more than the limit of {MAX_SCOPE_LABELS}",
            req.labels.len()
        ));
    }
    for h in &req.hosts {
        shared::profile::validate_host_id(h)
            .or_else(|problem| invalid(format!("host id '{h}' in the scope: {problem}")))?;
    }
    if let Some(k) = req.labels.keys().find(|k| k.trim().is_empty()) {
        return invalid(format!(
            "label key '{k}' is empty: write labels like cluster=c1"
        ));
    }
    if req
        .name
        .as_deref()
        .is_some_and(|n| n.len() > MAX_TOKEN_NAME)
    {
        return invalid(format!(
            "the token name is longer than {MAX_TOKEN_NAME} characters"
        ));
    }
    Ok(())
}

/// Create a scoped token; its secret is in the answer and nowhere else.
pub async fn create_scoped(
    store: &Store,
    req: &TokenRequest,
    created_at: &str,
) -> Result<TokenCreated, TokenError> {
    validate_request(req)?;
    let id = hex(&random_bytes::<6>().map_err(TokenError::Random)?);
    let secret = format!(
        "{SCOPED_TOKEN_PREFIX}{id}_{}",
        hex(&random_bytes::<32>().map_err(TokenError::Random)?)
    );
    let mut hosts = req.hosts.clone();
    hosts.sort();
    hosts.dedup();
    let info = TokenInfo {
        name: req.name.clone().unwrap_or_else(|| {
            if hosts.is_empty() {
                let l: Vec<String> = req.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                l.join(",")
            } else {
                hosts.join(",")
            }
        }),
        id: id.clone(),
        hosts,
        labels: req.labels.clone(),
        created_at: created_at.to_owned(),
    };
    let stored = StoredScoped {
        info: info.clone(),
        hash: hash_token(&secret).map_err(TokenError::Random)?,
    };
    let value = serde_json::to_string(&stored).map_err(|e| TokenError::Corrupt {
        name: id.clone(),
        message: e.to_string(),
    })?;
    store
        .set_setting(&format!("{SCOPED_PREFIX}{id}"), &value)
        .await?;
    Ok(TokenCreated {
        token: info,
        secret,
    })
}

/// Every scoped token, by id (no secrets: the database has none).
pub async fn list_scoped(store: &Store) -> Result<Vec<TokenInfo>, TokenError> {
    store
        .settings_with_prefix(SCOPED_PREFIX)
        .await?
        .into_iter()
        .map(|(name, value)| {
            serde_json::from_str::<StoredScoped>(&value)
                .map(|s| s.info)
                .map_err(|e| TokenError::Corrupt {
                    name,
                    message: e.to_string(),
                })
        })
        .collect()
}

/// Revoke a scoped token; false when there is none with that id.
pub async fn revoke_scoped(store: &Store, id: &str) -> Result<bool, TokenError> {
    if !valid_id(id) {
        return Ok(false);
    }
    Ok(store
        .delete_setting(&format!("{SCOPED_PREFIX}{id}"))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_every_byte() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"xbcd", b"abcd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn salted_hashes_differ_per_token_and_verify() {
        let a = hash_token("secret").expect("hash");
        let b = hash_token("secret").expect("hash");
        assert_ne!(a, b, "each hash has its own salt");
        assert_eq!(check(&a, "secret"), Check::Match);
        assert_eq!(check(&b, "secret"), Check::Match);
        assert_eq!(check(&a, "secreT"), Check::NoMatch);
        assert_eq!(check(&a, ""), Check::NoMatch);
        assert!(!a.contains("secret"));
    }

    #[test]
    fn unsalted_hashes_from_before_still_match() {
        let bare = hex(&Sha256::digest(b"old-token"));
        assert_eq!(check(&bare, "old-token"), Check::MatchUnsalted);
        assert_eq!(check(&bare, "other"), Check::NoMatch);
    }

    /// A database from before salting: the admin token still works (nobody is locked out) and is
    /// stored salted once used; the read token likewise.
    #[tokio::test]
    async fn unsalted_tokens_of_earlier_releases_work_and_are_rewritten_salted() {
        let store = Store::in_memory().await.expect("store");
        for (setting, token) in [
            (WRITE_TOKEN_SETTING, "old-admin"),
            (READ_TOKEN_SETTING, "old-read"),
        ] {
            store
                .set_setting(setting, &hex(&Sha256::digest(token.as_bytes())))
                .await
                .expect("set");
        }
        // `serve` without --token on such a database keeps the stored token.
        assert!(matches!(
            ensure_write_token(&store, None).await.expect("ensure"),
            TokenSetup::Existing
        ));
        assert_eq!(
            identify(&store, "old-admin").await.expect("id"),
            Holder::Admin
        );
        assert_eq!(
            identify(&store, "old-read").await.expect("id"),
            Holder::Read
        );
        assert_eq!(
            identify(&store, "other").await.expect("id"),
            Holder::Unknown
        );
        for setting in [WRITE_TOKEN_SETTING, READ_TOKEN_SETTING] {
            let stored = store.setting(setting).await.expect("get").expect("set");
            assert!(
                stored.starts_with(SALTED),
                "{setting} is not salted: {stored}"
            );
        }
        assert_eq!(
            identify(&store, "old-admin").await.expect("id"),
            Holder::Admin
        );
    }

    #[tokio::test]
    async fn scoped_tokens_are_created_found_listed_and_revoked() {
        let store = Store::in_memory().await.expect("store");
        let req = TokenRequest {
            hosts: vec!["h2".into(), "h1".into(), "h1".into()],
            ..TokenRequest::default()
        };
        let created = create_scoped(&store, &req, "2026-12-06T00:00:00Z")
            .await
            .expect("create");
        assert_eq!(created.token.hosts, ["h1", "h2"]);
        let Holder::Scoped(scope) = identify(&store, &created.secret).await.expect("id") else {
            panic!("the secret is not found");
        };
        assert_eq!(scope.0, created.token);
        // Same id, another secret: refused.
        let (head, last) = created.secret.split_at(created.secret.len() - 1);
        let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
        assert_eq!(
            identify(&store, &forged).await.expect("id"),
            Holder::Unknown
        );
        assert_eq!(
            list_scoped(&store).await.expect("list"),
            std::slice::from_ref(&created.token)
        );
        assert!(
            revoke_scoped(&store, &created.token.id)
                .await
                .expect("revoke")
        );
        assert!(
            !revoke_scoped(&store, &created.token.id)
                .await
                .expect("again")
        );
        assert_eq!(
            identify(&store, &created.secret).await.expect("id"),
            Holder::Unknown
        );
        assert!(list_scoped(&store).await.expect("list").is_empty());
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 section 4.3, test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn scope(hosts: &[&str], labels: &[(&str, &str)]) -> Scope {
        Scope(TokenInfo {
            id: "0123456789ab".into(),
            name: "t".into(),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            created_at: String::new(),
        })
    }

    #[test]
    fn scopes_allow_their_hosts_only() {
        let s = scope(&["a", "b"], &[]);
        assert!(s.allows("a", None, None).is_ok());
        let e = s.allows("c", None, None).expect_err("c is not in scope");
        assert!(e.to_string().contains("host 'c'"), "{e}");
        assert!(e.to_string().contains("a, b"), "{e}");

        let s = scope(&[], &[("cluster", "c1")]);
        let c1: BTreeMap<String, String> = [("cluster".into(), "c1".into())].into();
        let c2: BTreeMap<String, String> = [("cluster".into(), "c2".into())].into();
        assert!(s.allows("x", Some(&c1), None).is_ok());
        assert!(s.allows("x", Some(&c1), Some(&c1)).is_ok());
        let e = s.allows("x", Some(&c2), None).expect_err("wrong labels");
        assert!(e.to_string().contains("cluster=c2"), "{e}");
        // Relabelling another cluster's host does not make it ours.
        assert!(s.allows("x", Some(&c1), Some(&c2)).is_err());
    }

    #[test]
    fn scope_requests_are_checked() {
        let mut req = TokenRequest::default();
        assert!(validate_request(&req).is_err());
        req.hosts = vec!["..".into()];
        assert!(validate_request(&req).is_err());
        req.hosts = vec!["h1".into()];
        assert!(validate_request(&req).is_ok());
        req.labels.insert("cluster".into(), "c1".into());
        assert!(validate_request(&req).is_err());
    }
}
