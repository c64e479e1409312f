//! A small client of the Docker Engine API over dockerd's unix socket: one GET whose JSON
//! answer is returned. The agent uses it to read a container's labels (the network
//! driver is never told them).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Why an Engine API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// dockerd's socket could not be reached.
    #[error("connect to {path}: {source}")]
    Connect {
        /// The socket.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// HTTP failed.
    #[error("{0}")]
    Http(String),
    /// dockerd answered with an error status.
    #[error("{path}: HTTP {status}")]
    Status {
        /// The request path.
        path: String,
        /// The status.
        status: u16,
    },
    /// The answer is not JSON.
    #[error("{path}: {message}")]
    Json {
        /// The request path.
        path: String,
        /// serde_json's message.
        message: String,
    },
    /// No answer in time.
    #[error("{0}: no answer within 10 s")]
    Timeout(String),
}

/// The largest answer read.
const MAX_ANSWER: usize = 16 << 20;

/// `GET path` on dockerd's socket, its JSON answer.
pub async fn get_json(socket: &Path, path: &str) -> Result<Value, ClientError> {
    let p = path.to_string();
    tokio::time::timeout(Duration::from_secs(10), get(socket, path))
        .await
        .map_err(|_| ClientError::Timeout(p))?
}

async fn get(socket: &Path, path: &str) -> Result<Value, ClientError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|source| ClientError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .to_bytes();
    if status != 200 {
        return Err(ClientError::Status {
            path: path.to_string(),
            status,
        });
    }
    serde_json::from_slice(&body).map_err(|e| ClientError::Json {
        path: path.to_string(),
        message: e.to_string(),
    })
}
