//! The plugin socket: an HTTP/1.1 server (hyper) on a unix socket that decodes each POST
//! into a [`Call`], answers the fixed calls itself and hands the others to a [`Driver`].
//! Bodies are capped at [`MAX_BODY`]; one connection's failure never stops the server.

use std::future::Future;
use std::io;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixListener;

use crate::call::{err_body, Call, Outcome};
use crate::protocol::CONTENT_TYPE;

/// The largest request body read (Docker's are a few hundred bytes).
pub const MAX_BODY: usize = 1 << 20;

/// What does the work behind the calls that need state.
pub trait Driver: Clone + Send + Sync + 'static {
    /// Does `call` (never one with a [`Call::fixed_answer`]); `Err` becomes `{"Err": …}`.
    fn call(&self, call: Call) -> impl Future<Output = Result<Value, String>> + Send;
}

/// Binds the plugin socket at `path`: makes its folder, replaces a stale socket file (a
/// previous run's), refuses to replace anything that is not a socket.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

/// Answers one request: decode, fixed answer or the driver, encode.
pub async fn answer<D: Driver>(driver: &D, method: &Method, path: &str, body: &[u8]) -> Outcome {
    if method != Method::POST {
        return Outcome {
            status: 405,
            body: err_body(&format!("{method} {path}: plugin calls are POST")),
        };
    }
    let call = match Call::decode(path, body) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("docker plugin: {e}");
            return Outcome::undecodable(&e);
        }
    };
    if let Some(v) = call.fixed_answer() {
        return Outcome::ok(v);
    }
    tracing::debug!(path, "docker plugin call");
    match driver.call(call).await {
        Ok(v) => Outcome::ok(v),
        Err(e) => {
            tracing::warn!("docker plugin: {path}: {e}");
            Outcome::failed(path, &e)
        }
    }
}

async fn handle<D: Driver>(
    driver: D,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let outcome = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => answer(&driver, &method, &path, &b.to_bytes()).await,
        Err(e) => Outcome {
            status: 400,
            body: err_body(&format!("{path}: reading the request body: {e}")),
        },
    };
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(&outcome.body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    Ok(resp)
}

/// Serves connections on `listener` until the task is dropped; each connection runs in
/// its own task.
pub async fn serve<D: Driver>(listener: UnixListener, driver: D) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("docker plugin socket: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let driver = driver.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(driver.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!("docker plugin connection: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Counts the calls that reach it; fails every one.
    #[derive(Clone, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl Driver for Counting {
        async fn call(&self, call: Call) -> Result<Value, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(format!("no such thing: {call:?}"))
        }
    }

    #[tokio::test]
    async fn bad_requests_never_reach_the_driver() {
        let d = Counting::default();
        for (path, body, status) in [
            (
                "/NetworkDriver.CreateEndpoint",
                &b"{\"NetworkID\":"[..],
                400,
            ),
            ("/NetworkDriver.CreateEndpoint", b"{\"Interface\": 7}", 400),
            ("/IpamDriver.RequestAddress", b"not json", 400),
            ("/NetworkDriver.Explode", b"{}", 404),
        ] {
            let o = answer(&d, &Method::POST, path, body).await;
            assert_eq!(o.status, status, "{path}");
            assert!(o.body["Err"].is_string(), "{path}: {}", o.body);
        }
        let o = answer(&d, &Method::GET, "/Plugin.Activate", b"").await;
        assert_eq!(o.status, 405);
        assert_eq!(d.0.load(Ordering::SeqCst), 0);
        // Understood but refused by the driver: 200 with Err.
        let o = answer(&d, &Method::POST, "/NetworkDriver.Join", b"{}").await;
        assert_eq!((o.status, o.body["Err"].is_string()), (200, true));
        assert_eq!(d.0.load(Ordering::SeqCst), 1);
        // IPAM's answers name the field Error.
        let o = answer(&d, &Method::POST, "/IpamDriver.ReleaseAddress", b"{}").await;
        assert_eq!((o.status, o.body["Error"].is_string()), (200, true));
    }

    async fn post(sock: &Path, path: &str, body: &str) -> String {
        let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_http_on_a_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("plugins/t.sock");
        let l = bind(&sock).unwrap();
        let d = Counting::default();
        let task = tokio::spawn(serve(l, d.clone()));
        let out = post(&sock, "/Plugin.Activate", "").await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains(CONTENT_TYPE), "{out}");
        assert!(
            out.ends_with(r#"{"Implements":["NetworkDriver","IpamDriver"]}"#),
            "{out}"
        );
        let out = post(&sock, "/NetworkDriver.Leave", "{").await;
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert_eq!(d.0.load(Ordering::SeqCst), 0);
        task.abort();
        // A stale socket is replaced; a regular file is not.
        drop(bind(&sock).unwrap());
        let f = dir.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert!(bind(&f).is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"x");
    }
}
