//! The face-authentication card reader (顔認証付きカードリーダー) and terminal flow, as a state
//! machine driven one input at a time (docs/spec/qualification.md §2; docs/reader.md).
//!
//! - [`terminal`]: [`Terminal`], the state machine: feed it [`Input`]s, read [`Screen`]s and the
//!   [`ReceptionOutcome`]; [`Terminal::handle_in_clinic`] adds the clinic's generic reader, over
//!   which a phone is held on the smartphone path (docs/smartphone.md);
//! - [`card_io`]: the APDUs a reader sends, over any [`crate::transport::Transport`];
//! - [`service`]: [`QualificationService`], what the terminal needs from the qualification
//!   system (implemented for [`crate::oqs::Oqs`]; [`Network`] adds an outage switch);
//! - [`consent`]: which consent screens exist on a given day;
//! - [`collation`]: the OCR fields of the card front and 照合番号B;
//! - [`codes`]: message codes (001/002/006 and the harness's own `Hnnn`) and fallback guidance;
//! - [`screen`], [`outcome`]: screens, inputs, and what a reception came to.
//!
//! ```no_run
//! # use myna_hil::reader::*;
//! # fn demo(transport: &mut dyn myna_hil::transport::Transport, oqs: &myna_hil::oqs::Oqs,
//! #         ocr: FaceOcr) -> Result<(), UnexpectedInput> {
//! let config = TerminalConfig {
//!     facility_code: "1312345678".into(),
//!     date: chrono::NaiveDate::from_ymd_opt(2025, 6, 2).unwrap(),
//!     time: None,
//!     options: ReaderOptions::default(),
//! };
//! let mut terminal = Terminal::new(config);
//! terminal.handle(Input::PlaceCard, transport, oqs)?;
//! terminal.handle(Input::ChooseFace { ocr }, transport, oqs)?;
//! terminal.handle(Input::FaceResult { matched: true }, transport, oqs)?;
//! terminal.handle(Input::ConsentMode { mode: myna_hil::oqs::ConsentMode::Comprehensive }, transport, oqs)?;
//! assert_eq!(terminal.screen(), Screen::Result);
//! terminal.handle(Input::RemoveCard, transport, oqs)?;
//! let outcome = terminal.into_outcome();
//! # Ok(()) }
//! ```

pub(crate) mod card_io;
pub(crate) mod codes;
pub(crate) mod collation;
pub(crate) mod consent;
pub(crate) mod outcome;
pub(crate) mod screen;
pub(crate) mod service;
pub(crate) mod terminal;

pub use crate::person::PhoneKind;
pub use codes::{FallbackGuidance, MessageCode};
pub use collation::{BirthYearStyle, FaceOcr};
pub use consent::{CheckupScreenRule, ConsentTopic};
pub use outcome::{ReceptionOutcome, RegistrationRecord};
pub(crate) use screen::PhoneApproval;
pub use screen::{Input, Pin, Screen};
pub(crate) use service::ServiceError;
pub(crate) use service::TerminalRequest;
pub use service::{IdentityMethod, Network, Possession, QualificationService};
pub use terminal::{ReaderOptions, Terminal, TerminalConfig, UnexpectedInput};
