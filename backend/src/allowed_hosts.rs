//! The Host allow-list: a request whose `Host` header names another server is refused with 421,
//! so a web page whose name was rebound to this server's address (DNS rebinding) cannot read it
//! through a browser on the same machine or network.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Names this server answers to, lower case, without port or brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// `extra` (from `--allowed-host`; `*` turns the check off) and, when listening on loopback,
    /// `localhost`, `127.0.0.1`, `::1` and the listen address. `None`: no check (a non-loopback
    /// listener without `--allowed-host`, whose reads need a token anyway, or `*`).
    pub fn for_listener(listen: SocketAddr, extra: &[String]) -> Option<Self> {
        if extra.iter().any(|h| h == "*") {
            return None;
        }
        let mut names: Vec<String> = extra.iter().map(|h| normalize(h)).collect();
        let loopback = listen.ip().is_loopback();
        if loopback {
            names.extend(["localhost", "127.0.0.1", "::1"].map(str::to_owned));
        }
        if !listen.ip().is_unspecified() && (loopback || !names.is_empty()) {
            names.push(listen.ip().to_string());
        }
        names.sort();
        names.dedup();
        (!names.is_empty()).then_some(Self(names))
    }

    pub fn allows(&self, host_header: &str) -> bool {
        let name = normalize(host_header);
        self.0.contains(&name)
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// `Name:port`, `[v6]:port`, `v4:port`, `name.` -> `name`, `v6`, `v4`, lower case.
fn normalize(host: &str) -> String {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(inside, _)| inside)
    } else if host.parse::<IpAddr>().is_ok() {
        // A bare IPv6 address (from --allowed-host) has colons but no port.
        host
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

/// The middleware: 400 without a Host header (HTTP/1.1 requires one: RFC 9112 section 3.2),
/// 421 for a host not in the list.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(allowed) = state.allowed_hosts.as_deref() {
        let host = req
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok());
        match host {
            None => {
                return ApiError::bad_request(
                    "missing_host",
                    "the request has no Host header: send one naming this server",
                )
                .into_response();
            }
            Some(h) if !allowed.allows(h) => {
                return ApiError::MisdirectedHost {
                    host: h.chars().take(200).collect(),
                    allowed: allowed.names().join(", "),
                }
                .into_response();
            }
            Some(_) => {}
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn loopback_listeners_answer_to_local_names_only() {
        let a = AllowedHosts::for_listener(addr("127.0.0.1:8080"), &[]).expect("a list");
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "localhost.",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.2:8080",
            "localhost.evil",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
        let a = AllowedHosts::for_listener(addr("127.0.0.1:8080"), &["fleet.example".into()])
            .expect("a list");
        assert!(a.allows("fleet.example:443"));
        assert!(AllowedHosts::for_listener(addr("127.0.0.1:8080"), &["*".into()]).is_none());
    }

    #[test]
    fn other_listeners_check_only_when_told() {
        assert!(AllowedHosts::for_listener(addr("0.0.0.0:8080"), &[]).is_none());
        assert!(AllowedHosts::for_listener(addr("10.0.0.5:8080"), &[]).is_none());
        let a = AllowedHosts::for_listener(addr("10.0.0.5:8080"), &["fleet.example".into()])
            .expect("a list");
        assert!(a.allows("fleet.example") && a.allows("10.0.0.5:8080"));
        assert!(!a.allows("localhost"));
        let a = AllowedHosts::for_listener(addr("[::]:8080"), &["fd00::1".into()]).expect("a list");
        assert!(a.allows("[fd00::1]:8080"));
    }
}
