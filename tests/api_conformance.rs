//! The HTTP API accepts exactly what docs/openapi.yaml (the document it serves) allows, on the
//! points where `scripts/api-fuzz` (schemathesis) found them apart: which optional fields may
//! be `null`, and how large `GET /v1/calls?after=` may be. Each test reads the document itself,
//! so a change to either side alone fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use crate::support::oqs::OqsServer;
use serde_json::{json, Value};

/// The clinic registry's server, and the JSON answers of its API.
struct Server(OqsServer);

impl Server {
    fn start() -> Server {
        Server(OqsServer::http_only(&[]))
    }

    fn answer(result: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
        match result {
            Ok(response) => (response.status(), response.into_json().unwrap()),
            Err(ureq::Error::Status(code, response)) => (code, response.into_json().unwrap()),
            Err(other) => panic!("transport error: {other}"),
        }
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Server::answer(ureq::post(&self.0.url(path)).send_json(body))
    }

    fn get(&self, path: &str) -> (u16, Value) {
        Server::answer(ureq::get(&self.0.url(path)).call())
    }
}

fn openapi() -> Value {
    serde_saphyr::from_str(myna_hil::oqs::http::OPENAPI_YAML).unwrap()
}

/// Whether the document lets `property` of `schema` be `null`.
fn nullable(document: &Value, schema: &str, property: &str) -> bool {
    let property = &document["components"]["schemas"][schema]["properties"][property];
    match &property["type"] {
        Value::Array(types) => types.iter().any(|kind| kind == "null"),
        Value::String(kind) => kind == "null",
        // A bare `$ref` (consent, identity): the referenced schema is never nullable here.
        _ => false,
    }
}

fn optional_properties(document: &Value, schema: &str) -> Vec<String> {
    let schema = &document["components"]["schemas"][schema];
    let required: Vec<&Value> = schema["required"].as_array().unwrap().iter().collect();
    schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| !required.contains(&&Value::String((*name).clone())))
        .cloned()
        .collect()
}

/// Sends `base` with each optional property set to `null`: the server refuses it as a field
/// error (422 `invalid_fields`) exactly when the document does not allow `null`, and otherwise
/// answers as if the property were absent.
fn null_matches_the_document(server: &Server, path: &str, schema: &str, base: &Value) {
    let document = openapi();
    let absent = server.post(path, base);
    assert_ne!(
        absent.1["error"], "invalid_fields",
        "base request: {}",
        absent.1
    );
    let properties = optional_properties(&document, schema);
    assert!(properties.len() >= 5, "{schema}: {properties:?}");
    for property in properties {
        let mut request = base.clone();
        request[property.as_str()] = Value::Null;
        let (status, body) = server.post(path, &request);
        if nullable(&document, schema, &property) {
            assert_eq!(
                (status, body["error"].clone()),
                (absent.0, absent.1["error"].clone()),
                "{schema}.{property}: null is allowed, so it must mean absent: {body}"
            );
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (422, Some("invalid_fields")),
                "{schema}.{property}: the document does not allow null: {body}"
            );
        }
    }
}

#[test]
fn null_in_an_optional_field_is_accepted_exactly_where_the_document_allows_it() {
    let server = Server::start();
    let lookup = json!({
        "insurer_number": "01130012",
        "number": "1234",
        "birth_date": "2018-04-02",
        "facility_code": "1312345678",
        "date": "2025-03-31",
    });
    assert_eq!(server.post("/v1/insurance-card", &lookup).0, 200);
    null_matches_the_document(
        &server,
        "/v1/insurance-card",
        "InsuranceCardRequest",
        &lookup,
    );
    // The certificate is hex but no DER: the shape is accepted and the request refused as
    // `invalid_request`, which `invalid_fields` (a shape error) must not replace.
    let check = json!({
        "certificate": "3000",
        "facility_code": "1312345678",
        "date": "2025-03-31",
    });
    for path in ["/v1/check", "/v1/register"] {
        null_matches_the_document(&server, path, "CheckRequest", &check);
    }
    let document = openapi();
    for (schema, property) in [
        ("InsuranceCardRequest", "arbitrary_file_identifier"),
        ("CheckRequest", "arbitrary_file_identifier"),
        ("CheckRequest", "challenge"),
        ("CheckRequest", "signature"),
    ] {
        assert!(nullable(&document, schema, property), "{schema}.{property}");
    }
}

#[test]
fn calls_after_takes_every_offset_up_to_the_documented_maximum() {
    let server = Server::start();
    let document = openapi();
    let parameters = document["paths"]["/v1/calls"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let after = parameters
        .iter()
        .find(|parameter| parameter["name"] == "after")
        .unwrap();
    let maximum = after["schema"]["maximum"].as_u64().unwrap();
    assert_eq!(maximum, u64::MAX);
    let (status, body) = server.get(&format!("/v1/calls?after={maximum}&limit=1"));
    assert_eq!((status, body), (200, json!([])));
    // One past the maximum (what schemathesis sent: far beyond usize) is outside the schema.
    let (status, body) = server.get("/v1/calls?after=18446744073709551616&limit=1");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, body) = server.get("/v1/calls?after=16599691885369482018816&limit=1");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_query"))
    );
}

#[test]
fn the_documented_example_check_is_answered_with_a_verdict() {
    let server = Server::start();
    let example = &openapi()["paths"]["/v1/check"]["post"]["requestBody"]["content"]
        ["application/json"]["examples"]["face"]["value"];
    assert_eq!(example["identity"], "face", "{example}");
    let (status, body) = server.post("/v1/check", example);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "card_not_registered", "{body}");
    assert_eq!(body["MessageHeader"]["ArbitraryFileIdentifier"], "受付-1");
}
