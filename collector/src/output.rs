//! Where profiles go: a file or the backend's REST API.

use std::path::Path;

use shared::api::{ErrorBody, UploadReceipt};

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
    #[error("the backend at {url} refused the profile ({status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
}

/// Write atomically: a temporary file beside the target, then rename.
pub fn write_file(path: &Path, json: &str) -> Result<(), OutputError> {
    let err = |source| OutputError::Write {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json.as_bytes()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// POST the profile to `{base}/api/v1/hosts` with the write token.
pub fn post(base: &str, token: &str, json: &str) -> Result<UploadReceipt, OutputError> {
    let url = format!("{}/api/v1/hosts", base.trim_end_matches('/'));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut resp = agent
        .post(&url)
        .header("authorization", &format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(json)
        .map_err(|e| OutputError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
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
