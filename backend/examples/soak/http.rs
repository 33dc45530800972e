//! One keep-alive HTTP/1.1 connection of a soak client: hyper's client connection API on a tokio
//! socket, so 1,000 clients are 1,000 tasks on one runtime, not 1,000 threads.

use std::net::SocketAddr;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request as the clients send it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: hyper::Method,
    pub path: String,
    pub body: Bytes,
    /// `Authorization: Bearer` (uploads carry the write token).
    pub token: Option<String>,
}

/// Why a request got no answer: the transport failed (refused, reset, closed mid-answer).
#[derive(Debug)]
pub struct Transport(pub String);

/// An open connection; `opened` tells a connection to the killed server from one to its successor.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    pub opened: Instant,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self, Transport> {
        let opened = Instant::now();
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Transport(format!("connect to {addr}: {e}")))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Transport(format!("set TCP_NODELAY: {e}")))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Transport(format!("HTTP handshake with {addr}: {e}")))?;
        // The connection's I/O runs as its own task; it ends when either side closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: addr.to_string(),
            opened,
        })
    }

    /// Send `req`; the status and the whole body.
    pub async fn send(&mut self, req: &Request) -> Result<(u16, Bytes), Transport> {
        self.sender
            .ready()
            .await
            .map_err(|e| Transport(format!("connection closed: {e}")))?;
        let mut builder = hyper::Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(hyper::header::HOST, self.host.as_str());
        if !req.body.is_empty() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &req.token {
            builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = builder
            .body(Full::new(req.body.clone()))
            .map_err(|e| Transport(format!("building {} {}: {e}", req.method, req.path)))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| Transport(format!("{} {}: {e}", req.method, req.path)))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Transport(format!("reading the answer to {}: {e}", req.path)))?
            .to_bytes();
        Ok((status, body))
    }
}
