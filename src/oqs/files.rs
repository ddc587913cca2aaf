//! The folder interface with the レセコン: requests appear in `req`, answers go to `res`, and
//! face-reader reception results land unsolicited in `face`.
//!
//! `req` is polled (the crate set has no file-notification dependency, and a poll also works
//! on network shares where vendors often put these folders). A file is taken only once its
//! size and modification time have stayed unchanged for the settle time (default
//! [`DEFAULT_SETTLE`], `oqs serve --settle-ms`), so a writer that pauses mid-file is not read
//! half-way. Answered requests move to `req/done/`; a request that cannot be answered moves to
//! `req/error/` with `<name>.error.txt` next to it. Nothing is deleted or replaced:
//! - names are kept byte for byte (no lossy conversion), so names that differ only in
//!   invalid UTF-8 stay distinct;
//! - a name already taken in `req/done` or `req/error` gets a numbered suffix
//!   (`OQSsiquc01req_a.1.xml`), and so does an error file;
//! - a name too long for the file system once a suffix is added is shortened and marked with a
//!   hash of the whole name (`…~<16 hex>.error.txt`); the error file names the original;
//! - one file that cannot be handled is logged and left for the next poll; the others go on,
//!   and missing folders are recreated at every poll;
//! - a request is processed once: when its answer cannot be written (a directory in its place,
//!   a full disk) the answer is kept and only the write is retried at the next polls (a bulk
//!   upload becomes a reception only once its receipt is written);
//! - a request file larger than [`MAX_REQUEST_BYTES`] is refused unread;
//! - a document that ends early (an unclosed element) is taken as still being written until it
//!   has stayed unchanged for [`INCOMPLETE_GRACE_FACTOR`] × the settle time (10 s by default);
//!   only then is it refused;
//! - with `--charset shift_jis`, a request holding text Shift_JIS cannot carry is refused
//!   naming the element, never answered with 〓 in its place.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use crate::oqs::bulk::{BulkReceptions, PreparedUpload};
use crate::oqs::codes::{CharacterCode, ProcessingResultStatus, SegmentOfResult};
use crate::oqs::message::CheckResponse;
use crate::oqs::service::Oqs;
use crate::oqs::xml::{self, FileRequest, XmlError};

const SINGLE_REQUEST_PREFIX: &[u8] = b"OQSsiquc01req_";
const BULK_UPLOAD_PREFIX: &[u8] = b"OQSmuquc01req_";
const BULK_DOWNLOAD_PREFIX: &[u8] = b"OQSmuquc02req_";
const ERROR_FILE_SUFFIX: &[u8] = b".error.txt";

/// The three request kinds (docs/spec/oqs-xml.md §1.2), by name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Single,
    BulkUpload,
    BulkDownload,
}

impl RequestKind {
    fn of(name: &[u8]) -> Option<RequestKind> {
        if !name.to_ascii_lowercase().ends_with(b".xml") {
            return None;
        }
        [
            (SINGLE_REQUEST_PREFIX, RequestKind::Single),
            (BULK_UPLOAD_PREFIX, RequestKind::BulkUpload),
            (BULK_DOWNLOAD_PREFIX, RequestKind::BulkDownload),
        ]
        .into_iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, kind)| kind)
    }
}

/// The answer's name: the request's with `req_` replaced by `res_` (§1.5); same length, so it
/// always fits where the request did.
fn response_name(request: &[u8]) -> Vec<u8> {
    let mut name = request.to_vec();
    if let Some(at) = name.windows(4).position(|window| window == b"req_") {
        name[at..at + 4].copy_from_slice(b"res_");
    }
    name
}

/// Where a failed request's `.err` goes: the request's base name with `.err` (§1.6).
fn err_name(request: &[u8]) -> Vec<u8> {
    let base = match request.len().checked_sub(4) {
        Some(at) if request[at..].eq_ignore_ascii_case(b".xml") => &request[..at],
        _ => request,
    };
    [base, b".err"].concat()
}

/// How long a request file must stay unchanged before it is taken, unless configured.
pub(crate) const DEFAULT_SETTLE: Duration = Duration::from_millis(500);

/// The largest request file read: a bulk upload of 10,000 persons in the public layout is
/// about 5 MB. The server's memory stays proportional to it (a 40 MB file of empty elements
/// once took 1.8 GB).
pub(crate) const MAX_REQUEST_BYTES: u64 = 8 * 1024 * 1024;

/// A document that ends early is refused only after staying unchanged for this many settle
/// times: a writer on a network share may pause for seconds mid-file.
pub(crate) const INCOMPLETE_GRACE_FACTOR: u32 = 20;

/// The longest message written into an error file: names and values are quoted as excerpts,
/// and this catches any message that still grew with its input.
const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// The longest file name (in bytes) the usual file systems accept (NAME_MAX).
const MAX_NAME_BYTES: usize = 255;

/// How many numbered variants of one name are tried before giving up on a file.
const MAX_NUMBERED_NAMES: u64 = 100_000;

/// What happened to one request file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Answered: the result file is in `res/`.
    Answered {
        /// The request as it was found in `req/`.
        request: PathBuf,
        /// The answer written to `res/`.
        response: PathBuf,
    },
    /// Refused: an error file says why.
    Rejected {
        /// The request as it was found in `req/`.
        request: PathBuf,
        /// Where the refused request was moved (`req/error`).
        moved_to: PathBuf,
        /// The error file naming the problem.
        error_file: PathBuf,
    },
}

/// A request file as last seen: it is taken once this stays the same for the settle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Observation {
    size: u64,
    modified: Option<SystemTime>,
}

/// The req/res/face folder interface: request files in, answer files out.
pub struct FileInterface {
    root: PathBuf,
    oqs: Arc<Oqs>,
    face_counter: AtomicU32,
    temporary_counter: AtomicU64,
    /// The terminal's result encoding (`--charset`); requests do not choose it (§1.9).
    charset: CharacterCode,
    /// Also write face files for refused receptions (no public source shows one, §6.50).
    face_refusals: bool,
    bulk: BulkReceptions,
    settle: Duration,
    seen: Mutex<HashMap<OsString, (Observation, Instant)>>,
    /// Answers made but not yet delivered (written, then the request moved), by request name:
    /// retried as they are while the request file stays the same.
    pending: Mutex<HashMap<OsString, Pending>>,
    /// Requests that ended early, as first seen so and since when (the server's clock, not
    /// the file's modification time, which a network share may set from a skewed clock).
    incomplete: Mutex<HashMap<OsString, (Observation, Instant)>>,
}

/// An answer whose delivery failed part-way.
struct Pending {
    observation: Observation,
    answer: Vec<u8>,
    /// The bulk upload that becomes a reception once `answer` (its receipt) is written.
    upload: Option<PreparedUpload>,
    /// The answer is in `res`; only moving the request to `req/done` is left.
    written: bool,
}

/// Why a request is not answered now.
enum NotNow {
    /// Refused, with the message for its error file.
    Refused(String),
    /// The document ends early and may still be being written.
    EndsEarly(String),
}

impl From<XmlError> for NotNow {
    fn from(error: XmlError) -> NotNow {
        if error.ends_early() {
            NotNow::EndsEarly(error.to_string())
        } else {
            NotNow::Refused(error.to_string())
        }
    }
}

impl FileInterface {
    /// Creates `req`, `res` and `face` under `root` if missing.
    pub fn new(root: &Path, oqs: Arc<Oqs>) -> io::Result<FileInterface> {
        let interface = FileInterface {
            root: root.to_owned(),
            oqs,
            face_counter: AtomicU32::new(0),
            temporary_counter: AtomicU64::new(0),
            charset: CharacterCode::Utf8,
            face_refusals: false,
            bulk: BulkReceptions::default(),
            settle: DEFAULT_SETTLE,
            seen: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            incomplete: Mutex::new(HashMap::new()),
        };
        interface.create_folders()?;
        Ok(interface)
    }

    /// How long a request file must stay unchanged (size and modification time) before it is
    /// taken.
    pub fn with_settle(mut self, settle: Duration) -> FileInterface {
        self.settle = settle;
        self
    }

    /// The encoding of every answer and face file (UTF-8 unless configured).
    pub fn with_charset(mut self, charset: CharacterCode) -> FileInterface {
        self.charset = charset;
        self
    }

    /// Whether refused receptions also get a face file (by default only successful ones do:
    /// consumers drop face files whose SegmentOfResult or ProcessingResultStatus is not 1).
    pub(crate) fn with_face_refusals(mut self, write: bool) -> FileInterface {
        self.face_refusals = write;
        self
    }

    /// The folder the interface watches.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn create_folders(&self) -> io::Result<()> {
        for folder in ["req", "res", "face", "req/done", "req/error"] {
            std::fs::create_dir_all(self.root.join(folder))?;
        }
        Ok(())
    }

    /// One poll: answers every request that has stayed unchanged for the settle time. A file
    /// that cannot be handled is logged and retried at the next poll; it never stops the
    /// others. The error is only for the folder itself being unreadable.
    pub(crate) fn poll(&self) -> io::Result<Vec<FileOutcome>> {
        self.create_folders()?;
        let now = Instant::now();
        let mut present: Vec<(OsString, Observation)> = Vec::new();
        for entry in std::fs::read_dir(self.root.join("req"))? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            if !name.as_bytes().starts_with(b"OQS") {
                continue;
            }
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if !metadata.is_file() {
                continue;
            }
            let observation = Observation {
                size: metadata.len(),
                modified: metadata.modified().ok(),
            };
            present.push((name, observation));
        }
        // An answer kept for a request that is gone (removed by hand) is dropped with it.
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|name, _| present.iter().any(|(present, _)| present == name));
        self.incomplete
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|name, _| present.iter().any(|(present, _)| present == name));
        let mut ready = Vec::new();
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let mut next = HashMap::new();
            for (name, observation) in present {
                let since = match seen.get(&name) {
                    Some((last, since)) if *last == observation => *since,
                    _ => now,
                };
                // Seen unchanged in an earlier poll, for at least the settle time.
                if since < now && now.duration_since(since) >= self.settle {
                    ready.push(name);
                } else {
                    next.insert(name, (observation, since));
                }
            }
            *seen = next;
        }
        ready.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut outcomes = Vec::new();
        for name in ready {
            match self.answer_file(&name) {
                Ok(Some(outcome)) => outcomes.push(outcome),
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    file = %escaped_name(&name),
                    %error,
                    "request file could not be handled; retried at the next poll"
                ),
            }
        }
        Ok(outcomes)
    }

    /// Polls until every file present now has been handled (for tests and one-shot runs).
    pub fn drain(&self) -> io::Result<Vec<FileOutcome>> {
        let mut all = self.poll()?;
        std::thread::sleep(self.settle + Duration::from_millis(1));
        all.extend(self.poll()?);
        Ok(all)
    }

    /// Answers one request file; `None` when it is left in `req` for a later poll (a
    /// document that ends early, within its grace time).
    fn answer_file(&self, name: &OsStr) -> io::Result<Option<FileOutcome>> {
        let path = self.root.join("req").join(name);
        let bytes_of_name = name.as_bytes();
        let Some(kind) = RequestKind::of(bytes_of_name) else {
            return self.reject(
                &path,
                name,
                "request files are named OQSsiquc01req_*.xml, OQSmuquc01req_*.xml or OQSmuquc02req_*.xml",
            ).map(Some);
        };
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) => {
                return self
                    .reject(&path, name, &format!("cannot be read: {error}"))
                    .map(Some)
            }
        };
        let observation = Observation {
            size: metadata.len(),
            modified: metadata.modified().ok(),
        };
        let earlier = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        if let Some(pending) = earlier.filter(|pending| pending.observation == observation) {
            return self.deliver(name, &path, pending).map(Some);
        }
        if !self.oqs.is_reachable() {
            // Left in req: answered once the network is back, never lost.
            return Err(io::Error::other(
                "the qualification system is unreachable (network outage)",
            ));
        }
        if observation.size > MAX_REQUEST_BYTES {
            let message = format!(
                "the file is {} bytes; request files are at most {MAX_REQUEST_BYTES} bytes (8 MiB)",
                observation.size
            );
            return self.reject(&path, name, &message).map(Some);
        }
        let bytes = match read_at_most(&path, MAX_REQUEST_BYTES) {
            Ok(bytes) => bytes,
            Err(error) => {
                return self
                    .reject(&path, name, &format!("cannot be read: {error}"))
                    .map(Some)
            }
        };
        let made = match kind {
            RequestKind::Single => self
                .answer_single(&bytes)
                .map(|response| (xml::response_to_xml(&response), None)),
            RequestKind::BulkUpload => self.answer_upload(&bytes),
            RequestKind::BulkDownload => xml::parse_bulk_download(&bytes)
                .map(|download| {
                    let text = self.bulk.download(&download, self.charset);
                    (xml::encode_as(&text, self.charset), None)
                })
                .map_err(NotNow::from),
        };
        let (answer, upload) = match made {
            Ok(made) => made,
            Err(NotNow::Refused(message)) => return self.reject(&path, name, &message).map(Some),
            Err(NotNow::EndsEarly(message)) => {
                let grace = self.settle * INCOMPLETE_GRACE_FACTOR;
                let since = {
                    let mut incomplete = self
                        .incomplete
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    let entry = incomplete
                        .entry(name.to_owned())
                        .or_insert((observation, Instant::now()));
                    if entry.0 != observation {
                        *entry = (observation, Instant::now());
                    }
                    entry.1
                };
                // It had already stayed unchanged for the settle time when first read.
                let unchanged = since.elapsed() + self.settle;
                if unchanged < grace {
                    tracing::debug!(file = %escaped_name(name), "request ends early; waiting for the writer");
                    return Ok(None);
                }
                self.incomplete
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(name);
                let message = format!(
                    "{message}; unchanged for {} s, so taken as final",
                    grace.as_secs_f64()
                );
                return self.reject(&path, name, &message).map(Some);
            }
        };
        let pending = Pending {
            observation,
            answer,
            upload,
            written: false,
        };
        self.deliver(name, &path, pending).map(Some)
    }

    /// Writes an answer made earlier and moves its request to `req/done`; on failure keeps
    /// what is left to do for the next poll, so the request is never processed twice.
    fn deliver(&self, name: &OsStr, path: &Path, mut pending: Pending) -> io::Result<FileOutcome> {
        let response_path = self
            .root
            .join("res")
            .join(OsString::from_vec(response_name(name.as_bytes())));
        let result = (|| {
            if !pending.written {
                self.write_atomically(&response_path, &pending.answer)?;
                pending.written = true;
                pending.answer = Vec::new();
                if let Some(upload) = pending.upload.take() {
                    self.bulk.commit(upload);
                }
            }
            move_without_replacing(path, &self.root.join("req/done"), name)
        })();
        match result {
            Ok(done) => Ok(FileOutcome::Answered {
                request: done,
                response: response_path,
            }),
            Err(error) => {
                self.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(name.to_owned(), pending);
                Err(error)
            }
        }
    }

    /// The receipt of an `OQSmuquc01req` and the reception it becomes once written.
    fn answer_upload(&self, bytes: &[u8]) -> Result<(Vec<u8>, Option<PreparedUpload>), NotNow> {
        let upload = xml::parse_bulk_upload(bytes)?;
        xml::check_encodable(bytes, self.charset)?;
        let prepared = self.bulk.prepare(&self.oqs, &upload, self.charset);
        Ok((
            xml::encode_as(&prepared.receipt, self.charset),
            Some(prepared),
        ))
    }

    /// The answer to an `OQSsiquc01req`, or why the request is refused.
    fn answer_single(&self, bytes: &[u8]) -> Result<CheckResponse, NotNow> {
        let request = xml::parse_request(bytes)?;
        xml::check_encodable(bytes, self.charset)?;
        let mut response = match &request {
            FileRequest::Card(check) => {
                let response = self.oqs.check(check);
                if response.outcome.is_malformed_request() {
                    return Err(NotNow::Refused(Oqs::describe_refusal(
                        check,
                        response.outcome,
                    )));
                }
                response
            }
            FileRequest::InsuranceCard(lookup) => {
                let response = self.oqs.lookup_by_insurance_card(lookup);
                if response.outcome.is_malformed_request() {
                    return Err(NotNow::Refused("MedicalInstitutionCode must be 10 digits, InsurerNumber 8 (or 6) digits, InsuredBranchNumber 2 digits or empty".to_owned()));
                }
                response
            }
        };
        response.header.character_code_identifier = self.charset;
        Ok(response)
    }

    /// Moves a request that cannot be answered to `req/error` with its error file, and, for a
    /// request of a known kind, puts a copy of it and `<base>.err` into `res` as the terminal
    /// does (§1.6), so a client watching `res` learns of the failure.
    fn reject(&self, path: &Path, name: &OsStr, message: &str) -> io::Result<FileOutcome> {
        let message = &xml::excerpt_message(message, MAX_ERROR_MESSAGE_BYTES);
        if RequestKind::of(name.as_bytes()).is_some() {
            let res = self.root.join("res");
            // Copied by the kernel, never read into memory: the request may be over the cap.
            if std::fs::File::open(path).is_ok() {
                self.copy_atomically(path, &res.join(name))?;
            }
            self.write_atomically(
                &res.join(OsString::from_vec(err_name(name.as_bytes()))),
                format!("{message}\n").as_bytes(),
            )?;
        }
        let folder = self.root.join("req/error");
        let moved_to = move_without_replacing(path, &folder, name)?;
        let moved_name = moved_to.file_name().unwrap_or(name);
        let error_file = create_without_replacing(
            &folder,
            moved_name.as_bytes(),
            ERROR_FILE_SUFFIX,
            format!("{}: {message}\n", escaped_name(name)).as_bytes(),
        )?;
        tracing::warn!(file = %escaped_name(name), %message, "request file rejected");
        Ok(FileOutcome::Rejected {
            request: path.to_owned(),
            moved_to,
            error_file,
        })
    }

    /// Writes a face-reader reception result into `face` (§6):
    /// `OQSsiquc01res_face_` + 医療機関コード + 20 lowercase hex + `_yyyyMMddHHmmss.xml`, with an
    /// `ArbitraryFileIdentifier` the terminal invents (16 characters ending `=`, as in real
    /// files). Only successful receptions get one unless refusals are configured; `None` when
    /// none is written.
    pub fn write_face(&self, response: &CheckResponse) -> io::Result<Option<PathBuf>> {
        let succeeded = response.header.segment_of_result == SegmentOfResult::NormalEnd
            && response.body.processing_result_status == ProcessingResultStatus::Success;
        if !succeeded && !self.face_refusals {
            return Ok(None);
        }
        let counter = self.face_counter.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::new()
            .chain_update(response.header.medical_institution_code.as_bytes())
            .chain_update(response.header.process_execution_time.as_bytes())
            .chain_update(counter.to_be_bytes())
            .finalize();
        let token = hex::encode(&digest[..10]);
        let name = format!(
            "OQSsiquc01res_face_{}{token}_{}.xml",
            response.header.medical_institution_code, response.header.process_execution_time
        );
        let mut face = response.clone();
        face.header.arbitrary_file_identifier = Some(face_identifier(&digest[10..]));
        face.header.character_code_identifier = self.charset;
        let path = self.root.join("face").join(name);
        self.create_folders()?;
        self.write_atomically(&path, &xml::response_to_xml(&face))?;
        Ok(Some(path))
    }

    /// Polls every `interval` until the task is dropped.
    pub(crate) async fn watch(self: Arc<Self>, interval: Duration) {
        loop {
            let this = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || this.poll()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "polling the req folder failed"),
                Err(error) => tracing::warn!(%error, "the req poller stopped unexpectedly"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// A hidden temporary name beside `path` (short, so any answer name fits).
    fn temporary_beside(&self, path: &Path) -> PathBuf {
        let counter = self.temporary_counter.fetch_add(1, Ordering::Relaxed);
        path.with_file_name(format!(".myna-hil-{}-{counter}.tmp", std::process::id()))
    }

    /// [`Self::write_atomically`] with a copy of the file `from`.
    fn copy_atomically(&self, from: &Path, path: &Path) -> io::Result<()> {
        let temporary = self.temporary_beside(path);
        std::fs::copy(from, &temporary)?;
        std::fs::rename(&temporary, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
    }

    /// Readers never see a half-written answer: write a hidden temporary file, then rename it
    /// over the answer.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temporary = self.temporary_beside(path);
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
    }
}

/// 15 characters of the base64url alphabet and `=`: the shape of the identifiers real face
/// files carry (`ArnHCeDfNjMCFzg=`); what the terminal derives them from is not public.
fn face_identifier(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text: String = bytes
        .iter()
        .cycle()
        .take(15)
        .map(|byte| char::from(ALPHABET[usize::from(byte & 0x3F)]))
        .collect();
    text.push('=');
    text
}

/// The file's first `limit` bytes; an error if it holds more (it grew since it was measured).
fn read_at_most(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "the file grew past {limit} bytes while being read"
        )));
    }
    Ok(bytes)
}

/// The name for display and error files: UTF-8 as is, any other byte as `\xNN`.
pub(crate) fn escaped_name(name: &OsStr) -> String {
    let mut text = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

/// `stem` + `tail`, shortened to fit a file name: the stem is cut (at a character boundary
/// when it is UTF-8) and marked with a hash of the whole `original`, so two long names that
/// share a beginning still get different names.
fn fitted_name(original: &[u8], stem: &[u8], tail: &[u8]) -> Vec<u8> {
    if stem.len() + tail.len() <= MAX_NAME_BYTES {
        return [stem, tail].concat();
    }
    let digest = Sha256::digest(original);
    let mark = format!("~{}", hex::encode(&digest[..8]));
    let mut keep = MAX_NAME_BYTES.saturating_sub(tail.len() + mark.len());
    keep = keep.min(stem.len());
    while keep > 0 && (stem[keep] & 0xC0) == 0x80 {
        keep -= 1;
    }
    [&stem[..keep], mark.as_bytes(), tail].concat()
}

/// Candidate names for `name` in a folder: as is, then with `.1`, `.2`, … before the
/// extension, each fitted to the file-name limit.
fn candidate_names<'a>(name: &'a [u8], tail: &[u8]) -> impl Iterator<Item = OsString> + 'a {
    let tail = tail.to_vec();
    let (stem, extension) = match name.len().checked_sub(4) {
        Some(at) if name[at..].eq_ignore_ascii_case(b".xml") && at > 0 => name.split_at(at),
        _ => (name, &b""[..]),
    };
    (0u64..MAX_NUMBERED_NAMES).map(move |number| {
        let suffix = if number == 0 {
            [extension, &tail].concat()
        } else {
            [format!(".{number}").as_bytes(), extension, &tail].concat()
        };
        OsString::from_vec(fitted_name(name, stem, &suffix))
    })
}

/// Moves `path` into `folder` under its name, or a numbered variant when the name is taken:
/// an earlier request of the same name is never replaced. Only the server writes into these
/// folders, so checking before renaming is enough.
fn move_without_replacing(path: &Path, folder: &Path, name: &OsStr) -> io::Result<PathBuf> {
    for candidate in candidate_names(name.as_bytes(), b"") {
        let destination = folder.join(candidate);
        match std::fs::symlink_metadata(&destination) {
            Ok(_) => continue,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        std::fs::rename(path, &destination)?;
        return Ok(destination);
    }
    Err(io::Error::other("no free name left"))
}

/// Creates `<base><tail>` (or a numbered variant) in `folder` with `contents`, never replacing
/// an existing file.
fn create_without_replacing(
    folder: &Path,
    base: &[u8],
    tail: &[u8],
    contents: &[u8],
) -> io::Result<PathBuf> {
    for candidate in candidate_names(base, tail) {
        let destination = folder.join(candidate);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&destination)
        {
            Ok(mut file) => {
                file.write_all(contents)?;
                return Ok(destination);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other("no free name left"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_grew_past_the_cap_since_it_was_measured_is_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grown.xml");
        std::fs::write(&path, vec![b' '; 11]).unwrap();
        let error = read_at_most(&path, 10).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the file grew past 10 bytes while being read"
        );
        assert_eq!(read_at_most(&path, 11).unwrap().len(), 11);
    }
}
