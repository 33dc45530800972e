//! Bearer tokens. The write token is created on first run (printed once) or configured; the
//! database keeps only its SHA-256.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::{Store, StoreError};

const WRITE_TOKEN_SETTING: &str = "write_token_sha256";
const READ_TOKEN_SETTING: &str = "read_token_sha256";

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 32 random bytes from the OS, hex.
fn random_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!(
        "fc_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create a write token: {0}")]
    Random(std::io::Error),
}

/// What `ensure_write_token` did.
pub enum TokenSetup {
    /// A configured token is in force.
    Configured,
    /// A token from an earlier run is in force.
    Existing,
    /// A new token was made; show it to the operator once.
    Created(String),
}

/// Make sure a write token exists: the configured one, the stored one, or a new one.
pub async fn ensure_write_token(
    store: &Store,
    configured: Option<&str>,
) -> Result<TokenSetup, TokenError> {
    ensure_token(store, WRITE_TOKEN_SETTING, configured).await
}

/// Make sure a read token exists (for servers listening beyond loopback): the configured one, the
/// stored one, or a new one.
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
        store.set_setting(setting, &sha256_hex(token)).await?;
        return Ok(TokenSetup::Configured);
    }
    if store.setting(setting).await?.is_some() {
        return Ok(TokenSetup::Existing);
    }
    let token = random_token().map_err(TokenError::Random)?;
    store.set_setting(setting, &sha256_hex(&token)).await?;
    Ok(TokenSetup::Created(token))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default()
    })
}

/// The cookie a browser gets from `/login?token=...`, so the web UI can read beyond loopback.
pub const READ_COOKIE: &str = "fleetcompat_token";

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether `presented` is this server's read token or write token.
pub async fn is_read_token(store: &Store, presented: &str) -> Result<bool, ApiError> {
    if presented.is_empty() {
        return Ok(false);
    }
    let hash = sha256_hex(presented);
    for setting in [READ_TOKEN_SETTING, WRITE_TOKEN_SETTING] {
        if store.setting(setting).await?.as_deref() == Some(&hash) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads beyond loopback: the read token or the write token, as a bearer header or the cookie
/// `/login` sets.
pub async fn require_read(store: &Store, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(presented) = bearer(headers).or_else(|| cookie(headers, READ_COOKIE)) else {
        return Err(ApiError::Unauthorized(
            "this server needs a token for reads: send 'Authorization: Bearer TOKEN' with the read token (or the write token); in a browser, open /login?token=TOKEN once".into(),
        ));
    };
    if is_read_token(store, presented).await? {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "the token is neither this server's read token nor its write token".into(),
        ))
    }
}

/// Check the `Authorization: Bearer` header against the stored write token.
pub async fn require_write(store: &Store, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(presented) = bearer(headers) else {
        return Err(ApiError::Unauthorized(
            "writes need a bearer token: send 'Authorization: Bearer TOKEN' (the token `fleetcompat serve` printed on first run)".into(),
        ));
    };
    let expected = store.setting(WRITE_TOKEN_SETTING).await?;
    match expected {
        Some(hash) if !presented.is_empty() && sha256_hex(presented) == hash => Ok(()),
        _ => Err(ApiError::Unauthorized(
            "the bearer token is not this server's write token".into(),
        )),
    }
}
