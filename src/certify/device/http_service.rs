//! The qualification system reached over HTTP, as a vendor's terminal reaches it: the JSON API
//! of `myna-hil oqs serve` (docs/openapi.yaml), POST /v1/challenge, /v1/check, /v1/register.
//!
//! Blocking on purpose: the reader flow is synchronous, one exchange at a time.

use std::time::Duration;

use crate::oqs::message::{Challenge, CheckResponse};
use crate::reader::{QualificationService, ServiceError, TerminalRequest};

/// How long one call may take before the terminal treats the system as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The service at a base URL (`http://127.0.0.1:8080`, no trailing path).
pub(crate) struct HttpQualificationService {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpQualificationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpQualificationService")
            .field("base", &self.base)
            .finish()
    }
}

impl HttpQualificationService {
    pub(crate) fn new(base_url: &str) -> HttpQualificationService {
        HttpQualificationService {
            base: base_url.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new().timeout(CALL_TIMEOUT).build(),
        }
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> Result<ureq::Response, ServiceError> {
        let url = format!("{}{path}", self.base);
        match self.agent.post(&url).send_json(body) {
            Ok(response) => Ok(response),
            // The request reached the system but was refused before any rule applied.
            Err(ureq::Error::Status(422, response)) => {
                Err(ServiceError::Refused(error_text(response)))
            }
            Err(ureq::Error::Status(status, response)) if status >= 500 => Err(
                ServiceError::Unreachable(format!("{url}: {status} {}", error_text(response))),
            ),
            Err(ureq::Error::Status(status, response)) => Err(ServiceError::Unsupported(format!(
                "{url}: {status} {}",
                error_text(response)
            ))),
            Err(ureq::Error::Transport(transport)) => {
                Err(ServiceError::Unreachable(format!("{url}: {transport}")))
            }
        }
    }

    fn card_request(
        &self,
        path: &str,
        request: &TerminalRequest,
    ) -> Result<CheckResponse, ServiceError> {
        let body = serde_json::to_value(request.to_check_request()).map_err(|error| {
            ServiceError::Unsupported(format!("request not encodable: {error}"))
        })?;
        self.post(path, &body)?
            .into_json::<CheckResponse>()
            .map_err(|error| {
                ServiceError::Unsupported(format!(
                    "{path}: answer is not a check response: {error}"
                ))
            })
    }
}

/// The `message` of the API's JSON error body, or the raw body.
fn error_text(response: ureq::Response) -> String {
    let body = response.into_string().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("message")?.as_str().map(str::to_owned))
        .unwrap_or(body)
}

impl QualificationService for HttpQualificationService {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        let answer: Challenge = self
            .post("/v1/challenge", &serde_json::json!({}))?
            .into_json()
            .map_err(|error| {
                ServiceError::Unsupported(format!("/v1/challenge: answer unreadable: {error}"))
            })?;
        Ok(answer.challenge)
    }

    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.card_request("/v1/check", request)
    }

    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.card_request("/v1/register", request)
    }
}

/// Fault `no-proof`: the terminal still has the card sign, but the requests leave the
/// challenge and signature out.
pub(crate) struct WithoutProof<S>(pub S);

impl<S: QualificationService> QualificationService for WithoutProof<S> {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        self.0.challenge()
    }
    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.0.check(&without_possession(request))
    }
    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.0.register(&without_possession(request))
    }
}

fn without_possession(request: &TerminalRequest) -> TerminalRequest {
    TerminalRequest {
        possession: None,
        ..request.clone()
    }
}

/// Fault `face-for-phone`: a phone's check goes out as a face reception (identity `face`),
/// as from a terminal that ran its face route for the phone.
pub(crate) struct FaceForPhone<S>(pub S);

impl<S: QualificationService> QualificationService for FaceForPhone<S> {
    fn challenge(&self) -> Result<Vec<u8>, ServiceError> {
        self.0.challenge()
    }
    fn check(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.0.check(&as_face_if_phone(request))
    }
    fn register(&self, request: &TerminalRequest) -> Result<CheckResponse, ServiceError> {
        self.0.register(&as_face_if_phone(request))
    }
}

fn as_face_if_phone(request: &TerminalRequest) -> TerminalRequest {
    let mut request = request.clone();
    if request.smartphone.is_some() {
        request.identity = crate::reader::IdentityMethod::Face;
    }
    request
}
