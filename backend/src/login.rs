//! `/login` and `/logout`: a browser trades the read token (posted from a form, never in a URL)
//! for a session cookie: HttpOnly, SameSite=Strict, `Secure` when the server is reached over
//! TLS, with a Max-Age; the server checks the expiry too. Write tokens are refused here: a
//! browser session only ever reads.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::auth::{self, Holder, SESSION_COOKIE};
use crate::error::ApiError;
use crate::extract::LimitedBody;

/// A login form is a token and little else.
const LOGIN_BODY_BYTES: usize = 4 * 1024;

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fleetcompat: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
input{width:100%;padding:.5rem;margin:.5rem 0;font-family:monospace}button{padding:.5rem 1rem}</style>
</head><body>
<h1>fleetcompat</h1>
<p>This server needs its <strong>read token</strong> to show the fleet. It is the token
<code>fleetcompat serve</code> printed as the read token (or gave with <code>--read-token</code>);
write and scoped tokens are not accepted here.</p>
<form method="post" action="/login">
<label for="token">Read token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Log in</button>
</form>
</body></html>
"#;

/// `GET /login`: the form. A token in the query string is refused (it would stay in history and
/// proxy logs).
pub async fn page(RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    if query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("token="))) {
        return Err(ApiError::bad_request(
            "token_in_url",
            "tokens do not go in URLs (they stay in history and proxy logs): open /login and post the read token from its form",
        ));
    }
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(PAGE),
    )
        .into_response())
}

/// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte (WHATWG URL standard,
/// "application/x-www-form-urlencoded parsing").
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)?
        .1;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn session_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{}",
        if state.cookie_secure { "; Secure" } else { "" }
    )
}

/// `POST /login` with `token=READ_TOKEN`: a session cookie and a redirect to the UI.
pub async fn login(
    State(state): State<AppState>,
    LimitedBody(body): LimitedBody<LOGIN_BODY_BYTES>,
) -> Result<Response, ApiError> {
    let token = form_value(&body, "token")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_parameter",
                "login needs the read token as the form field 'token' (the form at GET /login sends it)",
            )
        })?;
    match auth::identify(&state.store, &token).await? {
        Holder::Read => {}
        Holder::Admin | Holder::Scoped(_) => {
            return Err(ApiError::Forbidden(
                "that is a write token, which a browser session must not hold: log in with the read token (`fleetcompat serve` printed it; set it with --read-token)".into(),
            ));
        }
        Holder::Unknown => {
            return Err(ApiError::Unauthorized(
                "that is not this server's read token: use the read token `fleetcompat serve` printed (or set with --read-token)".into(),
            ));
        }
    }
    let max_age = state.session_max_age.as_secs().max(1);
    let session = auth::new_session(&state.store, max_age).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                session_cookie(&state, &session, max_age),
            ),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response())
}

/// `POST /logout`: the cookie is cleared; back to the form.
pub async fn logout(State(state): State<AppState>) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session_cookie(&state, "", 0)),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::form_value;

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_value(b"token=fc_ab12", "token").as_deref(),
            Some("fc_ab12")
        );
        assert_eq!(
            form_value(b"a=1&token=x%2By+z", "token").as_deref(),
            Some("x+y z")
        );
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"token=%4", "token"), None);
        assert_eq!(form_value(b"other=1", "token"), None);
    }
}
