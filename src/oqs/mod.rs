//! The qualification system simulator (オンライン資格確認等システム).
//!
//! - [`description`]: the registry as YAML (stand-alone or nested in a scenario);
//! - [`registry`]: the compact in-memory registry and its builder;
//! - [`rules`]: dates → validity, grace, burden ratio, consent screens;
//! - [`service`]: [`Oqs`], the check (proof of possession for PIN receptions, the reader's
//!   attestation for face / 目視 ones) and the record of calls;
//! - [`message`] / [`xml`]: requests and answers as JSON and as the interface's XML;
//! - [`http`], [`files`]: the HTTP API and the req/res/face folder interface;
//! - [`generate`]: deterministic synthetic registries of any size.

pub(crate) mod bulk;
mod chain_memo;
pub(crate) mod cli;
pub mod codes;
pub mod description;
pub mod files;
pub mod generate;
pub mod http;
pub(crate) mod insurer;
pub(crate) mod kana;
pub mod load;
pub mod message;
pub(crate) mod outcome;
pub mod registry;
pub mod rules;
pub mod service;
pub mod xml;
mod xml_elements;

pub use description::RegistryDescription;
pub use message::{
    CheckRequest, CheckResponse, ConsentChoices, ConsentMode, IdentityMethod, InsuranceCardRequest,
};
pub use outcome::Outcome;
pub use registry::Registry;
pub use service::{CallKind, CallRecord, CheckContext, Oqs, OqsConfig};
