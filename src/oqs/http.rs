//! The HTTP API (JSON). Every malformed request gets a JSON error with a 4xx status; verdicts
//! of the qualification system (refusals included) are 200 answers with an `outcome`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use http_body_util::{BodyExt, Collected};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;

use crate::oqs::files::FileInterface;
use crate::oqs::message::{Challenge, CheckRequest, CheckResponse, InsuranceCardRequest};
use crate::oqs::service::Oqs;
use crate::oqs::xml;

/// The OpenAPI document of this API, as kept in the repository.
pub const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

/// Requests are small JSON documents; anything bigger is refused before parsing.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// `GET /v1/calls` answers at most this many records unless `limit` asks for fewer.
pub(crate) const DEFAULT_CALLS_PAGE: usize = 1_000;
/// The largest `limit` of `GET /v1/calls`: one answer stays a few megabytes.
pub(crate) const MAX_CALLS_PAGE: usize = 10_000;

/// How the server protects itself from clients that trickle, stall or pile up connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's header must arrive within this time; it also closes a kept-alive connection
    /// that sends no next request (hyper's header-read timer starts when it waits for one).
    pub(crate) header_read: Duration,
    /// A request must be read and answered within this time (a body sent slowly gets 408).
    pub(crate) request: Duration,
    /// A connection is closed after this time whatever it does, so none is held forever (a
    /// request in progress may still finish, within `request`).
    pub(crate) connection: Duration,
    /// At most this many connections are served at once; further ones wait in the backlog.
    pub(crate) max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            connection: Duration::from_secs(300),
            max_connections: 256,
        }
    }
}

#[derive(Clone)]
struct AppState {
    oqs: Arc<Oqs>,
    files: Option<Arc<FileInterface>>,
}

/// The JSON error body of every 4xx.
#[derive(Debug, Serialize)]
pub(crate) struct ApiError {
    pub(crate) error: &'static str,
    pub(crate) message: String,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error: code,
            message: message.into(),
        }),
    )
        .into_response()
}

fn rejection(rejection: JsonRejection) -> Response {
    let (status, code) = match &rejection {
        JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields"),
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "wrong_content_type")
        }
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
        }
        _ => (StatusCode::BAD_REQUEST, "unreadable_body"),
    };
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    error(status, code, rejection.body_text())
}

/// Reads the JSON body of `request` into `T`, answering what [`read_json`] answers.
///
/// A body sent as `application/json` is first read straight into `T`: that is every request a
/// terminal sends, and going through a `Value` (a map allocated per document) and the path
/// tracker cost a tenth of a lookup's time. Whatever that read refuses (wrong shape, a repeated
/// field, not JSON, another content type, a body too large) takes the two-step path on the same
/// bytes, so refusals, and the last-value-wins reading of a repeated field, are unchanged.
async fn read_request<T: DeserializeOwned>(
    request: Request,
    state: &AppState,
) -> Result<T, Box<Response>> {
    let plain_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == b"application/json");
    if !plain_json {
        return read_json(Json::<Value>::from_request(request, state).await);
    }
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|refused| Box::new(rejection(JsonRejection::from(refused))))?;
    read_json_bytes(&bytes)
}

/// Reads an `application/json` body into `T`: straight into `T`, and whatever that refuses
/// through [`read_json`], so that refusals are the same whichever way the body came.
fn read_json_bytes<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Box<Response>> {
    match serde_json::from_slice(bytes) {
        Ok(read) => Ok(read),
        Err(_) => read_json(Json::<Value>::from_bytes(bytes)),
    }
}

/// A JSON answer, as `Json(value).into_response()` writes it, into a buffer sized for a whole
/// answer (axum's starts at 128 bytes and grows about four times for a qualification answer).
fn json_answer<T: Serialize>(value: &T) -> Response {
    let mut body = Vec::with_capacity(JSON_ANSWER_CAPACITY);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            )],
            Bytes::from(body),
        )
            .into_response(),
        Err(_) => Json(value).into_response(),
    }
}

/// Room for an answer with one qualification (about 1.2 kB) without growing.
const JSON_ANSWER_CAPACITY: usize = 2048;

/// Reads a JSON body in two steps: text that is not JSON is a 400 (`malformed_json`), and JSON
/// of the wrong shape is a 422 (`invalid_fields`) naming the field. In one step, serde_json
/// reports `null` or a number where an enumerated string belongs (`character_code: null`) as a
/// syntax error, which made a well-formed document a 400 `malformed_json`.
fn read_json<T: DeserializeOwned>(
    body: Result<Json<Value>, JsonRejection>,
) -> Result<T, Box<Response>> {
    let Json(value) = body.map_err(|rejected| Box::new(rejection(rejected)))?;
    serde_path_to_error::deserialize(value).map_err(|refused| {
        Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_fields",
            format!("the request does not match its schema: {refused}"),
        ))
    })
}

/// The router: give it the service and, optionally, the folder interface (card checks then
/// also write their answer into `face`, as a face-auth reader's terminal does).
pub fn router(oqs: Arc<Oqs>, files: Option<Arc<FileInterface>>) -> Router {
    Router::new()
        .route("/openapi.yaml", get(openapi))
        .route("/v1/health", get(health))
        .route("/v1/challenge", post(challenge))
        .route("/v1/check", post(check))
        .route("/v1/register", post(register))
        .route("/v1/insurance-card", post(insurance_card))
        .route("/v1/calls", get(calls))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint; see GET /openapi.yaml",
            )
        })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "wrong method for this endpoint; see GET /openapi.yaml",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState { oqs, files })
}

/// The API as [`serve`] serves it: the [`router`], and the state the hot endpoints are
/// answered from without it ([`HotPath`]).
#[derive(Clone)]
pub struct Api {
    state: AppState,
    router: Router,
}

impl Api {
    /// The API over the service and, optionally, the folder interface (as [`router`]).
    pub fn new(oqs: Arc<Oqs>, files: Option<Arc<FileInterface>>) -> Api {
        let state = AppState { oqs, files };
        Api {
            router: router(Arc::clone(&state.oqs), state.files.clone()),
            state,
        }
    }
}

/// Serves `api` on `listener` within `limits` until `shutdown` completes. Each connection is
/// HTTP/1.1 with hyper's header-read timer, the whole request (body included) under a timeout
/// answered 408, a lifetime cap, and a semaphore bounding how many are open at once.
pub async fn serve(
    listener: TcpListener,
    api: Api,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let hot_path = Arc::new(HotPath {
        state: api.state,
        request_timeout: limits.request,
        router: TowerToHyperService::new(api.router.layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request,
        ))),
    });
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = &mut shutdown => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let service = HotPathService(Arc::clone(&hot_path));
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read);
            let mut connection =
                std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended");
                    }
                }
                () = tokio::time::sleep(limits.connection) => {
                    // Let a request in progress finish (bounded by the request timeout)
                    // rather than cut its answer off.
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.request, connection).await;
                }
            }
            drop(permit);
        });
    }
}

/// The three endpoints a reception calls on every patient — `POST /v1/challenge`,
/// `POST /v1/check` and `POST /v1/insurance-card` with an `application/json` body of a known
/// length — answered by a path match over hyper; every other request goes through the
/// [`router`].
///
/// Axum's router, its layers and extractors were a third of a lookup's server time (a future
/// and a boxed body per layer, a timer per request). The answers are the same either way: the
/// hot path reads the body under the same size limit and request timeout (408) and answers with
/// the handlers' own functions, and whatever it does not take (another content type, a chunked
/// or oversized body, another method) the router answers as before.
struct HotPath {
    state: AppState,
    request_timeout: Duration,
    router: TowerToHyperService<Router>,
}

/// One of the hot endpoints.
#[derive(Debug, Clone, Copy)]
enum HotEndpoint {
    Challenge,
    Check,
    InsuranceCard,
}

impl HotEndpoint {
    /// The hot endpoint `request` asks for, if it is one the hot path takes as it is.
    fn of<B>(request: &axum::http::Request<B>) -> Option<HotEndpoint> {
        if request.method() != axum::http::Method::POST {
            return None;
        }
        let endpoint = match request.uri().path() {
            "/v1/challenge" => return Some(HotEndpoint::Challenge),
            "/v1/check" => HotEndpoint::Check,
            "/v1/insurance-card" => HotEndpoint::InsuranceCard,
            _ => return None,
        };
        let headers = request.headers();
        let plain_json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes() == b"application/json");
        let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
        let known_length = match (lengths.next(), lengths.next()) {
            (Some(length), None) => length
                .to_str()
                .ok()
                .and_then(|length| length.parse::<usize>().ok())
                .is_some_and(|length| length <= MAX_BODY_BYTES),
            _ => false,
        };
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        (plain_json && known_length && !chunked).then_some(endpoint)
    }
}

/// [`HotPath`] as hyper calls it, one per connection.
#[derive(Clone)]
struct HotPathService(Arc<HotPath>);

type Answering = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<axum::http::Request<Incoming>> for HotPathService {
    type Response = Response;
    type Error = Infallible;
    type Future = Answering;

    fn call(&self, request: axum::http::Request<Incoming>) -> Answering {
        let Some(endpoint) = HotEndpoint::of(&request) else {
            return Box::pin(hyper::service::Service::call(&self.0.router, request));
        };
        let hot = Arc::clone(&self.0);
        Box::pin(async move { Ok(hot.answer(endpoint, request.into_body()).await) })
    }
}

impl HotPath {
    async fn answer(&self, endpoint: HotEndpoint, body: Incoming) -> Response {
        let state = &self.state;
        if let HotEndpoint::Challenge = endpoint {
            return answer_challenge(state);
        }
        let bytes = match self.read_body(body).await {
            Ok(bytes) => bytes,
            Err(refusal) => return *refusal,
        };
        match endpoint {
            HotEndpoint::Challenge => answer_challenge(state),
            HotEndpoint::Check => match read_json_bytes(&bytes) {
                Ok(request) => answer_check(state, &request),
                Err(refusal) => *refusal,
            },
            HotEndpoint::InsuranceCard => match read_json_bytes(&bytes) {
                Ok(request) => answer_insurance_card(state, &request),
                Err(refusal) => *refusal,
            },
        }
    }

    /// The whole body (its length is known and within [`MAX_BODY_BYTES`]), within the request
    /// timeout (else an empty 408, as the router's timeout answers). A body that came with the
    /// request's head, as terminals send it, is taken without setting a timer.
    async fn read_body(&self, body: Incoming) -> Result<Bytes, Box<Response>> {
        let mut collecting = std::pin::pin!(body.collect());
        let first =
            std::future::poll_fn(|context| Poll::Ready(collecting.as_mut().poll(context))).await;
        let collected = match first {
            Poll::Ready(collected) => collected,
            Poll::Pending => tokio::time::timeout(self.request_timeout, collecting)
                .await
                .map_err(|_| Box::new(StatusCode::REQUEST_TIMEOUT.into_response()))?,
        };
        collected.map(Collected::to_bytes).map_err(|failure| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("the request body could not be read: {failure}"),
            ))
        })
    }
}

/// Liveness, and what a load generator must know: the registry's size and whether challenges
/// may be reused (a load-testing mode that must never pass unnoticed).
async fn health(State(state): State<AppState>) -> Response {
    Json(serde_json::json!({
        "status": "ok",
        "persons": state.oqs.registry().person_count(),
        "reusable_challenges": state.oqs.reusable_challenges(),
    }))
    .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML).into_response()
}

async fn challenge(State(state): State<AppState>) -> Response {
    answer_challenge(&state)
}

fn answer_challenge(state: &AppState) -> Response {
    json_answer(&Challenge {
        challenge: state.oqs.issue_challenge(),
    })
}

async fn check(State(state): State<AppState>, request: Request) -> Response {
    match read_request(request, &state).await {
        Ok(request) => answer_check(&state, &request),
        Err(refusal) => *refusal,
    }
}

fn answer_check(state: &AppState, request: &CheckRequest) -> Response {
    // A check is what a face-authentication reader runs at reception, so its answer is also
    // the reader's result file in `face/` (registrations are not).
    answer_card_request(state, request, Oqs::check, true)
}

async fn register(State(state): State<AppState>, request: Request) -> Response {
    match read_request(request, &state).await {
        Ok(request) => answer_card_request(&state, &request, Oqs::register, false),
        Err(refusal) => *refusal,
    }
}

/// Dates must have four-digit years (so that ProcessExecutionTime is YYYYMMDDHHMMSS) and
/// times whole seconds, as the OpenAPI document says.
fn unwritable_date_or_time(
    dates: &[(&str, NaiveDate)],
    time: Option<NaiveTime>,
) -> Option<Response> {
    if let Some((field, date)) = dates
        .iter()
        .find(|(_, date)| !(0..=9999).contains(&date.year()))
    {
        return Some(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_fields",
            format!("{field}: {date} is outside years 0000-9999"),
        ));
    }
    if time.is_some_and(|time| time.nanosecond() != 0) {
        return Some(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_fields",
            "time: HH:MM:SS, whole seconds only",
        ));
    }
    None
}

/// The identifier is echoed into the XML answers (`face/`), so it must be text XML 1.0 can
/// carry.
fn unwritable_identifier(identifier: Option<&str>) -> Option<Response> {
    let character = identifier.and_then(xml::first_non_xml10_char)?;
    Some(error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_fields",
        format!(
            "arbitrary_file_identifier contains U+{:04X}, which XML 1.0 cannot carry",
            u32::from(character)
        ),
    ))
}

/// Shared by check and register: a malformed request is a 422 naming what is wrong; any
/// verdict, favourable or not, is a 200 with its outcome.
fn answer_card_request(
    state: &AppState,
    request: &CheckRequest,
    operation: fn(&Oqs, &CheckRequest) -> CheckResponse,
    write_face_file: bool,
) -> Response {
    if let Some(refusal) = unwritable_identifier(request.arbitrary_file_identifier.as_deref())
        .or_else(|| unwritable_date_or_time(&[("date", request.date)], request.time))
    {
        return refusal;
    }
    let response = operation(&state.oqs, request);
    if response.outcome.is_malformed_request() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            Oqs::describe_refusal(request, response.outcome),
        );
    }
    if let (true, Some(files)) = (write_face_file, &state.files) {
        if let Err(failure) = files.write_face(&response) {
            tracing::warn!(%failure, "could not write the face result file");
        }
    }
    json_answer(&response)
}

async fn insurance_card(State(state): State<AppState>, request: Request) -> Response {
    match read_request(request, &state).await {
        Ok(request) => answer_insurance_card(&state, &request),
        Err(refusal) => *refusal,
    }
}

fn answer_insurance_card(state: &AppState, request: &InsuranceCardRequest) -> Response {
    if let Some(refusal) = unwritable_identifier(request.arbitrary_file_identifier.as_deref())
        .or_else(|| {
            unwritable_date_or_time(
                &[("date", request.date), ("birth_date", request.birth_date)],
                request.time,
            )
        })
    {
        return refusal;
    }
    let response = state.oqs.lookup_by_insurance_card(request);
    if response.outcome.is_malformed_request() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "facility_code must be 10 digits, insurer_number 8 digits, branch 2 digits",
        );
    }
    json_answer(&response)
}

/// `GET /v1/calls?after=N&limit=M`: the calls after the first N on record, at most M.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallsPage {
    /// Any u64, as the OpenAPI document says: an offset past the record is an empty page on
    /// every platform, not a 400 where usize is narrower.
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// One page of the record; when more remain, a `Link: <…>; rel="next"` header gives the next.
async fn calls(
    State(state): State<AppState>,
    page: Result<Query<CallsPage>, QueryRejection>,
) -> Response {
    let Query(page) = match page {
        Ok(page) => page,
        Err(rejected) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "after and limit are non-negative integers: {}",
                    rejected.body_text()
                ),
            )
        }
    };
    let limit = page.limit.unwrap_or(DEFAULT_CALLS_PAGE);
    if !(1..=MAX_CALLS_PAGE).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to {MAX_CALLS_PAGE}"),
        );
    }
    let after = usize::try_from(page.after).unwrap_or(usize::MAX);
    let (records, remaining) = state.oqs.calls_page(after, limit);
    let mut response = Json(&records).into_response();
    if remaining > 0 {
        let next = format!(
            "</v1/calls?after={}&limit={limit}>; rel=\"next\"",
            after.saturating_add(records.len())
        );
        if let Ok(value) = header::HeaderValue::from_str(&next) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}
