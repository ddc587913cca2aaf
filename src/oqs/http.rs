//! The HTTP API (JSON). Every malformed request gets a JSON error with a 4xx status; verdicts
//! of the qualification system (refusals included) are 200 answers with an `outcome`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::oqs::files::FileInterface;
use crate::oqs::message::{Challenge, CheckRequest, CheckResponse, InsuranceCardRequest};
use crate::oqs::service::Oqs;
use crate::oqs::xml;

/// The OpenAPI document of this API, as kept in the repository.
pub const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

/// Requests are small JSON documents; anything bigger is refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct AppState {
    oqs: Arc<Oqs>,
    files: Option<Arc<FileInterface>>,
}

/// The JSON error body of every 4xx.
#[derive(Debug, Serialize)]
pub struct ApiError {
    pub error: &'static str,
    pub message: String,
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

/// The router: give it the service and, optionally, the folder interface (card checks then
/// also write their answer into `face`, as a face-auth reader's terminal does).
pub fn router(oqs: Arc<Oqs>, files: Option<Arc<FileInterface>>) -> Router {
    Router::new()
        .route("/openapi.yaml", get(openapi))
        .route(
            "/v1/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
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

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML).into_response()
}

async fn challenge(State(state): State<AppState>) -> Json<Challenge> {
    Json(Challenge {
        challenge: state.oqs.issue_challenge(),
    })
}

async fn check(
    State(state): State<AppState>,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> Response {
    // A check is what a face-authentication reader runs at reception, so its answer is also
    // the reader's result file in `face/` (registrations are not).
    answer_card_request(&state, body, Oqs::check, true)
}

async fn register(
    State(state): State<AppState>,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> Response {
    answer_card_request(&state, body, Oqs::register, false)
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
    body: Result<Json<CheckRequest>, JsonRejection>,
    operation: fn(&Oqs, &CheckRequest) -> CheckResponse,
    write_face_file: bool,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejected) => return rejection(rejected),
    };
    if let Some(refusal) = unwritable_identifier(request.arbitrary_file_identifier.as_deref()) {
        return refusal;
    }
    let response = operation(&state.oqs, &request);
    if response.outcome.is_malformed_request() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            Oqs::describe_refusal(&request, response.outcome),
        );
    }
    if let (true, Some(files)) = (write_face_file, &state.files) {
        if let Err(failure) = files.write_face(&response) {
            tracing::warn!(%failure, "could not write the face result file");
        }
    }
    Json(response).into_response()
}

async fn insurance_card(
    State(state): State<AppState>,
    body: Result<Json<InsuranceCardRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejected) => return rejection(rejected),
    };
    if let Some(refusal) = unwritable_identifier(request.arbitrary_file_identifier.as_deref()) {
        return refusal;
    }
    let response = state.oqs.lookup_by_insurance_card(&request);
    if response.outcome.is_malformed_request() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "facility_code must be 10 digits, insurer_number 8 digits, branch 2 digits",
        );
    }
    Json(response).into_response()
}

async fn calls(State(state): State<AppState>) -> Response {
    Json(state.oqs.calls()).into_response()
}
