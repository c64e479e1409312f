//! The metrics listener's HTTP server (`metrics.listen`): `/metrics` (Prometheus text
//! format), `/healthz` (alive), `/readyz` (ready, or 503 with what is not) and `/`, a
//! short index. HTTP/1.1, `GET` (and `HEAD`), one request per connection.
//!
//! The server holds no state: every answer is asked of the task that owns the metrics
//! and the readiness inputs (`agent::observe`) over a channel, so a scrape always sees
//! a fresh refresh.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::limits::ConnLimit;

/// What the HTTP server asks the task that owns the metrics.
#[derive(Debug)]
pub enum Ask {
    /// Refresh, render, send the text exposition back.
    Metrics(oneshot::Sender<String>),
    /// Send back what is not ready (empty: ready).
    Ready(oneshot::Sender<Vec<String>>),
}

/// Connections served at once; more are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 32;

/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a whole exchange may take (head, scrape, answer).
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The body of `/`.
const INDEX: &str = "tern agent\n\
/metrics  Prometheus metrics (text format)\n\
/healthz  200 while the agent serves\n\
/readyz   200 when peers are up or trying, the FIB reconciled and policy applied; else 503 and what is not ready\n";

const TEXT: &str = "text/plain; charset=utf-8";

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the listener until dropped. At most [`MAX_CONNECTIONS`] at once,
/// [`HEAD_TIMEOUT`] for the request head and [`CONNECTION_TIMEOUT`] for everything: a
/// client that holds connections open costs the agent a bounded number of file
/// descriptors for a bounded time.
pub async fn serve(listener: TcpListener, asks: mpsc::Sender<Ask>) {
    let limit = Arc::new(ConnLimit::new("metrics endpoint", MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("metrics accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = limit.try_admit() else {
            drop(stream);
            continue;
        };
        let asks = asks.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let served = tokio::time::timeout(CONNECTION_TIMEOUT, exchange(stream, &asks)).await;
            if let Ok(Err(e)) = served {
                tracing::debug!("metrics connection: {e}");
            }
        });
    }
}

/// An answer: status line, content type, body.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: &'static str,
    ctype: &'static str,
    body: String,
}

impl Answer {
    fn text(status: &'static str, body: impl Into<String>) -> Answer {
        Answer {
            status,
            ctype: TEXT,
            body: body.into(),
        }
    }
}

async fn exchange(mut stream: TcpStream, asks: &mpsc::Sender<Ask>) -> std::io::Result<()> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::other("no request head"))??;
    let (a, head_only) = match request_target(&head) {
        Some((method, path)) => (answer(path, asks).await, method == "HEAD"),
        None => (Answer::text("400 Bad Request", "bad request\n"), false),
    };
    let resp = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        a.status,
        a.ctype,
        a.body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    if !head_only {
        stream.write_all(a.body.as_bytes()).await?;
    }
    stream.shutdown().await
}

async fn answer(path: &str, asks: &mpsc::Sender<Ask>) -> Answer {
    match path {
        "/metrics" => {
            let (tx, rx) = oneshot::channel();
            match ask(asks, Ask::Metrics(tx), rx).await {
                Some(text) => Answer {
                    status: "200 OK",
                    ctype: "text/plain; version=0.0.4; charset=utf-8",
                    body: text,
                },
                None => Answer::text("503 Service Unavailable", "metrics are not available\n"),
            }
        }
        "/healthz" => Answer::text("200 OK", "ok\n"),
        "/readyz" => {
            let (tx, rx) = oneshot::channel();
            match ask(asks, Ask::Ready(tx), rx).await {
                Some(missing) => readiness(&missing),
                None => Answer::text("503 Service Unavailable", "not ready: shutting down\n"),
            }
        }
        "/" => Answer::text("200 OK", INDEX),
        _ => Answer::text(
            "404 Not Found",
            "not found; try /metrics, /healthz or /readyz\n",
        ),
    }
}

async fn ask<T>(asks: &mpsc::Sender<Ask>, a: Ask, rx: oneshot::Receiver<T>) -> Option<T> {
    asks.send(a).await.ok()?;
    rx.await.ok()
}

/// `/readyz`: 200 "ready", or 503 with one line per thing that is not ready.
fn readiness(missing: &[String]) -> Answer {
    if missing.is_empty() {
        return Answer::text("200 OK", "ready\n");
    }
    let mut body = String::from("not ready:\n");
    for m in missing {
        body.push_str("- ");
        body.push_str(m);
        body.push('\n');
    }
    Answer::text("503 Service Unavailable", body)
}

/// Reads the request head (up to the blank line, at most 8 KiB).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The method and path of a `GET` or `HEAD` request line, without a query string.
fn request_target(head: &str) -> Option<(&str, &str)> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    if method != "GET" && method != "HEAD" {
        return None;
    }
    let target = parts.next()?;
    Some((method, target.split('?').next().unwrap_or(target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_target_of_get_lines() {
        assert_eq!(
            request_target("GET /metrics HTTP/1.1\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(
            request_target("GET /metrics?x=1 HTTP/1.1\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(
            request_target("HEAD /healthz HTTP/1.1\r\n"),
            Some(("HEAD", "/healthz"))
        );
        assert_eq!(request_target("POST /metrics HTTP/1.1\r\n"), None);
        assert_eq!(request_target(""), None);
    }

    /// Each path's answer, with a task standing in for the metrics owner.
    #[tokio::test]
    async fn paths() {
        let (tx, mut rx) = mpsc::channel::<Ask>(4);
        let owner = tokio::spawn(async move {
            let mut ready = false;
            while let Some(a) = rx.recv().await {
                match a {
                    Ask::Metrics(r) => {
                        let _ = r.send("tern_up 1\n".into());
                    }
                    Ask::Ready(r) => {
                        let missing = if ready {
                            vec![]
                        } else {
                            vec!["FIB: not reconciled yet".to_string()]
                        };
                        ready = true;
                        let _ = r.send(missing);
                    }
                }
            }
        });
        let a = answer("/metrics", &tx).await;
        assert_eq!((a.status, a.body.as_str()), ("200 OK", "tern_up 1\n"));
        assert!(a.ctype.contains("version=0.0.4"));
        assert_eq!(answer("/healthz", &tx).await.body, "ok\n");
        let r = answer("/readyz", &tx).await;
        assert_eq!(r.status, "503 Service Unavailable");
        assert_eq!(r.body, "not ready:\n- FIB: not reconciled yet\n");
        assert_eq!(
            answer("/readyz", &tx).await,
            Answer::text("200 OK", "ready\n")
        );
        assert!(answer("/", &tx).await.body.contains("/readyz"));
        assert_eq!(answer("/nope", &tx).await.status, "404 Not Found");
        drop(tx);
        owner.await.unwrap();
        // The owner gone (shutting down): not ready, but alive.
        let (tx, rx) = mpsc::channel::<Ask>(1);
        drop(rx);
        assert_eq!(
            answer("/readyz", &tx).await.status,
            "503 Service Unavailable"
        );
        assert_eq!(answer("/healthz", &tx).await.status, "200 OK");
    }
}
