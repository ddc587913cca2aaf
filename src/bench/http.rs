//! The bench's HTTP side: a keep-alive HTTP/1.1 connection per load task (hyper's client
//! connection, one request at a time, as a terminal sends them), the target's address, and
//! the workloads sent over it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::bench::judge::{judge, Path};
use crate::bench::mix::Expect;
use crate::bench::population::Holder;
use crate::oqs::codes::QualificationValidity;
use crate::oqs::message::{Challenge, CheckRequest};
use crate::oqs::Outcome;

/// How long one request may take before it counts as a `timeout` error.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest answer body the bench reads. Real answers are under 2 KiB; a target that
/// announces or sends more (a 1 GB body once took the bench to 6.9 GB) gets the request counted
/// as an `answer_too_large` error and the connection dropped, so memory stays bounded by
/// senders × this cap.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The error kind of an answer longer than [`MAX_ANSWER_BYTES`].
pub(crate) const ANSWER_TOO_LARGE: &str = "answer_too_large";

/// The whole body of `response`, or `answer_too_large` when it announces or holds more than
/// [`MAX_ANSWER_BYTES`] (checked on the announced length first, so nothing of it is read).
async fn read_capped(
    driver: &mut Option<Pin<Box<ClientConnection>>>,
    response: hyper::Response<hyper::body::Incoming>,
) -> Result<Bytes, HttpFailure> {
    let announced = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_ANSWER_BYTES as u64) {
        return Err(HttpFailure(ANSWER_TOO_LARGE.into()));
    }
    let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES);
    match drive(driver, limited.collect()).await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(HttpFailure(ANSWER_TOO_LARGE.into()))
        }
        Err(_) => Err(HttpFailure("io".into())),
    }
}

/// `http://HOST:PORT`, resolved.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// The target as given (`http://host:port`).
    pub(crate) url: String,
    /// The address the host resolved to.
    pub(crate) address: SocketAddr,
    /// Validated once, not for every request.
    host_header: HeaderValue,
}

/// Why `--target` is not an `http://host:port` the bench can reach.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not `in-process` nor `http://HOST:PORT`.
    #[error("--target {0:?}: expected in-process or http://HOST:PORT (https is not supported)")]
    Syntax(String),
    /// The host name does not resolve.
    #[error("--target {url}: cannot resolve {host}: {reason}")]
    Resolve {
        /// The `--target` as given.
        url: String,
        /// The host part.
        host: String,
        /// The resolver's words.
        reason: String,
    },
}

impl HttpTarget {
    /// Reads `--target` (`http://host:port`), resolving the host once.
    pub fn parse(text: &str) -> Result<HttpTarget, TargetError> {
        let syntax = || TargetError::Syntax(text.to_owned());
        let rest = text.strip_prefix("http://").ok_or_else(syntax)?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(syntax());
        }
        let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
            .map_err(|error| TargetError::Resolve {
                url: text.to_owned(),
                host: authority.to_owned(),
                reason: error.to_string(),
            })?
            .next()
            .ok_or_else(|| TargetError::Resolve {
                url: text.to_owned(),
                host: authority.to_owned(),
                reason: "no address".to_owned(),
            })?;
        let host_header = HeaderValue::from_str(authority).map_err(|_| syntax())?;
        Ok(HttpTarget {
            url: format!("http://{authority}"),
            address,
            host_header,
        })
    }
}

type ClientConnection = hyper::client::conn::http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One kept-alive connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// hyper's side of the connection, polled by the task that sends on it rather than by a
    /// task of its own: each request then wakes one task instead of two, which left the load
    /// generator's own CPU use a third above wrk's. `None` once it has ended.
    driver: Option<Pin<Box<ClientConnection>>>,
    target: HttpTarget,
    /// Whether a request has been answered on it: only then may the server have closed it as
    /// idle while our next request was on its way.
    reused: bool,
}

/// A request that failed before an answer could be judged, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFailure(pub String);

impl Connection {
    /// Opens one kept-alive HTTP/1.1 connection to the target.
    pub async fn open(target: &HttpTarget) -> Result<Connection, HttpFailure> {
        let stream = TcpStream::connect(target.address)
            .await
            .map_err(|_| HttpFailure("connect".into()))?;
        // Requests are small and answered at once: no Nagle delay on either side.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| HttpFailure("connect".into()))?;
        Ok(Connection {
            sender,
            driver: Some(Box::pin(connection)),
            target: target.clone(),
            reused: false,
        })
    }

    /// Sends one request and reads the whole answer. A kept-alive connection that the server
    /// closed before answering (its idle or lifetime close racing our request) is replaced by
    /// a new one and the request sent again, once, as HTTP/1.1 clients do: `oqs serve` closes
    /// a connection only when no request is being read, so the request was never processed.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), HttpFailure> {
        let exchange = async {
            match self.send_once(method.clone(), path, body.clone()).await {
                Err(Attempt::NotAnswered(_)) if self.reused => {
                    *self = Connection::open(&self.target).await?;
                    self.send_once(method, path, body).await
                }
                other => other,
            }
            .map_err(|attempt| match attempt {
                Attempt::NotAnswered(failure) | Attempt::Failed(failure) => failure,
            })
        };
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| HttpFailure("timeout".into()))??;
        self.reused = true;
        Ok(answer)
    }

    async fn send_once(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), Attempt> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.target.host_header.clone())
            .header(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .body(Full::new(body))
            .map_err(|_| Attempt::Failed(HttpFailure("request_build".into())))?;
        drive(&mut self.driver, self.sender.ready())
            .await
            .map_err(|_| Attempt::NotAnswered(HttpFailure("connection_closed".into())))?;
        let response = drive(&mut self.driver, self.sender.try_send_request(request))
            .await
            .map_err(|mut error| {
                let unsent = error.take_message().is_some();
                let error = error.into_error();
                if unsent || error.is_canceled() || error.is_incomplete_message() {
                    Attempt::NotAnswered(HttpFailure("connection_closed".into()))
                } else {
                    Attempt::Failed(HttpFailure("io".into()))
                }
            })?;
        let status = response.status();
        let body = read_capped(&mut self.driver, response)
            .await
            .map_err(Attempt::Failed)?;
        Ok((status, body))
    }
}

/// Runs `work` (a step of a request on the connection) while polling the connection itself.
/// Once the connection has ended, hyper fails whatever was in flight, so `work` is then
/// awaited alone and ends with that error.
async fn drive<T>(
    driver: &mut Option<Pin<Box<ClientConnection>>>,
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    if let Some(connection) = driver.as_mut() {
        tokio::select! {
            biased;
            done = &mut work => return done,
            _ = connection.as_mut() => {}
        }
        // Dropping the ended connection cancels what it still held.
        *driver = None;
    }
    work.await
}

/// How one try of a request ended, when it failed.
enum Attempt {
    /// The connection closed before any answer: the request may be sent again.
    NotAnswered(HttpFailure),
    Failed(HttpFailure),
}

/// The part of an answer the bench judges.
#[derive(Deserialize)]
struct Verdict {
    outcome: Outcome,
    #[serde(rename = "MessageBody")]
    body: VerdictBody,
}

#[derive(Deserialize)]
struct VerdictBody {
    #[serde(rename = "QualificationValidity", default)]
    validity: Option<String>,
}

/// Judges an HTTP answer: malformed requests must get a 422, every verdict a 200 with the
/// expected outcome.
pub(crate) fn judge_http(
    path: Path,
    expected: Expect,
    status: StatusCode,
    body: &[u8],
) -> Result<(), String> {
    if expected == Expect::Invalid {
        return if status == StatusCode::UNPROCESSABLE_ENTITY {
            Ok(())
        } else {
            Err(format!("status_{}", status.as_u16()))
        };
    }
    if status != StatusCode::OK {
        return Err(format!("status_{}", status.as_u16()));
    }
    let verdict: Verdict =
        serde_json::from_slice(body).map_err(|_| "unreadable_answer".to_owned())?;
    let validity = verdict
        .body
        .validity
        .as_deref()
        .and_then(<QualificationValidity as crate::oqs::codes::CodeValue>::from_code);
    judge(path, expected, verdict.outcome, validity)
}

/// What one HTTP request of a workload is.
pub(crate) enum HttpRequest {
    /// A body sent as is (insurance-card lookups, checks signed in advance).
    Ready { path: &'static str, body: Bytes },
    /// A check with a fresh challenge: ask for one, sign it, send the check.
    Fresh(Box<(Holder, CheckRequest)>),
}

/// Sends `request` over `connection` and judges the answer.
pub(crate) async fn run_http(
    connection: &mut Connection,
    path_kind: Path,
    expected: Expect,
    request: &HttpRequest,
) -> Result<(), String> {
    match request {
        HttpRequest::Ready { path, body } => {
            let (status, answer) = connection
                .send(Method::POST, path, body.clone())
                .await
                .map_err(|HttpFailure(kind)| kind)?;
            judge_http(path_kind, expected, status, &answer)
        }
        HttpRequest::Fresh(fresh) => {
            let (holder, request) = fresh.as_ref();
            let (status, answer) = connection
                .send(Method::POST, "/v1/challenge", Bytes::new())
                .await
                .map_err(|HttpFailure(kind)| kind)?;
            if status != StatusCode::OK {
                return Err(format!("challenge_status_{}", status.as_u16()));
            }
            let challenge: Challenge =
                serde_json::from_slice(&answer).map_err(|_| "unreadable_challenge".to_owned())?;
            let signature = if expected == Expect::BadSignature {
                holder.sign(b"not the challenge")
            } else {
                holder.sign(&challenge.challenge)
            };
            let mut request = request.clone();
            request.challenge = Some(challenge.challenge);
            request.signature = Some(signature);
            let body = serde_json::to_vec(&request).map_err(|_| "request_build".to_owned())?;
            let (status, answer) = connection
                .send(Method::POST, "/v1/check", Bytes::from(body))
                .await
                .map_err(|HttpFailure(kind)| kind)?;
            judge_http(path_kind, expected, status, &answer)
        }
    }
}

/// `GET /v1/health` as the bench reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Health {
    #[serde(default)]
    pub(crate) reusable_challenges: bool,
    #[serde(default)]
    pub(crate) persons: Option<u64>,
}

pub(crate) async fn health(target: &HttpTarget) -> Result<Health, String> {
    let mut connection = Connection::open(target)
        .await
        .map_err(|_| format!("cannot connect to {} ({})", target.url, target.address))?;
    let request = Request::builder()
        .method(Method::GET)
        .uri("/v1/health")
        .header(hyper::header::HOST, connection.target.host_header.clone())
        .body(Full::new(Bytes::new()))
        .map_err(|error| error.to_string())?;
    let exchange = async {
        let Connection { sender, driver, .. } = &mut connection;
        drive(driver, sender.ready())
            .await
            .map_err(|error| error.to_string())?;
        let response = drive(driver, sender.send_request(request))
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status();
        let body = read_capped(driver, response)
            .await
            .map_err(|HttpFailure(kind)| match kind.as_str() {
                ANSWER_TOO_LARGE => {
                    format!("GET /v1/health answered more than {MAX_ANSWER_BYTES} bytes")
                }
                _ => format!("GET /v1/health: {kind}"),
            })?;
        if status != StatusCode::OK {
            return Err(format!("GET /v1/health answered {status}"));
        }
        serde_json::from_slice::<Health>(&body)
            .map_err(|error| format!("GET /v1/health is not the qualification system's: {error}"))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("{} did not answer GET /v1/health within 5 s", target.url))?
}

/// Asks the service for `count` challenges (to sign in advance).
pub(crate) async fn challenges(target: &HttpTarget, count: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut connection = Connection::open(target)
        .await
        .map_err(|_| format!("cannot connect to {}", target.url))?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (status, body) = connection
            .send(Method::POST, "/v1/challenge", Bytes::new())
            .await
            .map_err(|HttpFailure(kind)| format!("POST /v1/challenge: {kind}"))?;
        if status != StatusCode::OK {
            return Err(format!("POST /v1/challenge answered {status}"));
        }
        let challenge: Challenge = serde_json::from_slice(&body)
            .map_err(|error| format!("POST /v1/challenge: {error}"))?;
        out.push(challenge.challenge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_say_why_not() {
        let target = HttpTarget::parse("http://127.0.0.1:8931").unwrap();
        assert_eq!(target.address, "127.0.0.1:8931".parse().unwrap());
        assert_eq!(target.url, "http://127.0.0.1:8931");
        assert!(HttpTarget::parse("http://127.0.0.1:8931/").is_ok());
        for bad in [
            "https://127.0.0.1:1",
            "127.0.0.1:1",
            "http://127.0.0.1",
            "http://h:1/x",
            "http://",
        ] {
            assert!(
                matches!(HttpTarget::parse(bad), Err(TargetError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn http_answers_are_judged_by_status_and_outcome() {
        let ok = br#"{"outcome":"answered","MessageBody":{"QualificationValidity":"1"}}"#;
        assert!(judge_http(Path::Card, Expect::Valid, StatusCode::OK, ok).is_ok());
        assert_eq!(
            judge_http(
                Path::Card,
                Expect::Valid,
                StatusCode::INTERNAL_SERVER_ERROR,
                ok
            ),
            Err("status_500".to_owned())
        );
        assert!(judge_http(
            Path::Card,
            Expect::Invalid,
            StatusCode::UNPROCESSABLE_ENTITY,
            b"{}"
        )
        .is_ok());
        assert_eq!(
            judge_http(Path::Card, Expect::Valid, StatusCode::OK, b"nonsense"),
            Err("unreadable_answer".to_owned())
        );
        let expired = br#"{"outcome":"certificate_expired","MessageBody":{}}"#;
        assert!(judge_http(Path::Card, Expect::Expired, StatusCode::OK, expired).is_ok());
        assert!(judge_http(Path::Card, Expect::Valid, StatusCode::OK, expired).is_err());
    }
}
