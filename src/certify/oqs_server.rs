//! The qualification system of a certification run: the real HTTP API (`oqs serve`'s router)
//! on its own thread, with every call the device makes recorded (request and answer bodies)
//! and an outage switch.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::observed::OqsCall;
use crate::oqs::files::FileInterface;
use crate::oqs::http::{router, MAX_BODY_BYTES};
use crate::oqs::service::Oqs;

/// Answers are a few KB; this bounds what the recorder buffers.
const MAX_RECORDED_RESPONSE: usize = 1024 * 1024;

struct CallLog {
    calls: Mutex<Vec<OqsCall>>,
    outage: AtomicBool,
    /// The service itself, whose own call log says which phone credential a certificate was.
    oqs: Arc<Oqs>,
}

impl CallLog {
    /// How many calls the service has on record.
    fn service_calls(&self) -> usize {
        self.oqs.calls_page(0, 0).1
    }

    /// The phone credential among the service's calls recorded after the first `before`
    /// (the certification's calls come one at a time).
    fn credential_since(&self, before: usize) -> Option<String> {
        let added = self.service_calls().saturating_sub(before);
        let (calls, _) = self.oqs.calls_page(before, added);
        calls
            .iter()
            .rev()
            .find_map(|call| call.smartphone)
            .map(|kind| kind.label().to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum OqsServerError {
    #[error("listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("file interface {dir}: {source}")]
    Files { dir: String, source: std::io::Error },
    #[error("could not start the qualification system: {0}")]
    Start(std::io::Error),
}

/// The running server.
pub(crate) struct OqsServer {
    url: String,
    log: Arc<CallLog>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OqsServer {
    /// Serves `oqs` on `listen` (port 0 picks one) and, with `files`, the folder interface.
    pub(crate) fn start(
        oqs: Arc<Oqs>,
        listen: SocketAddr,
        files: Option<&std::path::Path>,
    ) -> Result<OqsServer, OqsServerError> {
        let listener =
            std::net::TcpListener::bind(listen).map_err(|source| OqsServerError::Listen {
                address: listen,
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| OqsServerError::Listen {
                address: listen,
                source,
            })?;
        listener
            .set_nonblocking(true)
            .map_err(OqsServerError::Start)?;
        let files = match files {
            Some(dir) => Some(Arc::new(
                FileInterface::new(dir, Arc::clone(&oqs)).map_err(|source| {
                    OqsServerError::Files {
                        dir: dir.display().to_string(),
                        source,
                    }
                })?,
            )),
            None => None,
        };
        let log = Arc::new(CallLog {
            calls: Mutex::new(Vec::new()),
            outage: AtomicBool::new(false),
            oqs: Arc::clone(&oqs),
        });
        let app = router(oqs, files.clone()).layer(axum::middleware::from_fn_with_state(
            Arc::clone(&log),
            record,
        ));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(OqsServerError::Start)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("certify-oqs".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!(%error, "qualification system listener");
                            return;
                        }
                    };
                    if let Some(files) = files {
                        tokio::spawn(files.watch(Duration::from_millis(100)));
                    }
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(error) = served {
                        tracing::error!(%error, "qualification system server");
                    }
                });
            })
            .map_err(OqsServerError::Start)?;
        Ok(OqsServer {
            url: format!("http://{address}"),
            log,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// While on, every call answers 503 (the network to the qualification system is down).
    pub(crate) fn set_outage(&self, outage: bool) {
        self.log.outage.store(outage, Ordering::Relaxed);
    }

    /// Calls recorded so far.
    pub(crate) fn calls(&self) -> Vec<OqsCall> {
        self.log
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for OqsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn json_or_null(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null)
}

/// Records one call: method, path, both bodies, status.
async fn record(State(log): State<Arc<CallLog>>, request: Request, next: Next) -> Response {
    let at = Utc::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let request_json = json_or_null(&body);
    let before = log.service_calls();
    let response = if log.outage.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": "unavailable",
                "message": "the qualification system is unreachable (certification outage case)"
            })),
        )
            .into_response()
    } else {
        next.run(Request::from_parts(parts, Body::from(body))).await
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_RECORDED_RESPONSE)
        .await
        .unwrap_or_default();
    log.calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(OqsCall {
            at,
            method,
            path,
            status: parts.status.as_u16(),
            request: request_json,
            response: json_or_null(&bytes),
            credential: log.credential_since(before),
        });
    Response::from_parts(parts, Body::from(bytes))
}
