//! The folder interface with the レセコン: requests appear in `req`, answers go to `res`, and
//! face-reader reception results land unsolicited in `face`.
//!
//! `req` is polled (the crate set has no file-notification dependency, and a poll also works
//! on network shares where vendors often put these folders). A file is read once its size has
//! stayed the same across two polls, so a half-written request is never taken. Answered
//! requests move to `req/done/`; a request that cannot be answered moves to `req/error/` with
//! `<name>.error.txt` next to it — nothing is deleted.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::oqs::message::CheckResponse;
use crate::oqs::service::Oqs;
use crate::oqs::xml::{self, FileRequest};

const SINGLE_REQUEST_PREFIX: &str = "OQSsiquc01req_";
const BULK_REQUEST_PREFIX: &str = "OQSmuquc01req_";

/// What happened to one request file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    Answered {
        request: PathBuf,
        response: PathBuf,
    },
    Rejected {
        request: PathBuf,
        moved_to: PathBuf,
        error_file: PathBuf,
    },
}

pub struct FileInterface {
    root: PathBuf,
    oqs: Arc<Oqs>,
    face_counter: AtomicU32,
    /// The 処理コード part of face file names ([open] in the spec: configurable).
    face_processing_code: String,
    sizes: Mutex<HashMap<PathBuf, u64>>,
}

impl FileInterface {
    /// Creates `req`, `res` and `face` under `root` if missing.
    pub fn new(
        root: &Path,
        oqs: Arc<Oqs>,
        face_processing_code: &str,
    ) -> io::Result<FileInterface> {
        for folder in ["req", "res", "face", "req/done", "req/error"] {
            std::fs::create_dir_all(root.join(folder))?;
        }
        Ok(FileInterface {
            root: root.to_owned(),
            oqs,
            face_counter: AtomicU32::new(0),
            face_processing_code: face_processing_code.to_owned(),
            sizes: Mutex::new(HashMap::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// One poll: answers every request whose size is stable since the previous poll.
    pub fn poll(&self) -> io::Result<Vec<FileOutcome>> {
        let mut outcomes = Vec::new();
        let mut entries: Vec<(PathBuf, u64)> = Vec::new();
        for entry in std::fs::read_dir(self.root.join("req"))? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("OQS") {
                continue;
            }
            entries.push((entry.path(), entry.metadata()?.len()));
        }
        let mut ready = Vec::new();
        {
            let mut sizes = self.sizes.lock().unwrap_or_else(PoisonError::into_inner);
            let mut next = HashMap::new();
            for (path, size) in entries {
                if sizes.get(&path) == Some(&size) {
                    ready.push(path);
                } else {
                    next.insert(path, size);
                }
            }
            *sizes = next;
        }
        ready.sort();
        for path in ready {
            outcomes.push(self.answer_file(&path)?);
        }
        Ok(outcomes)
    }

    /// Polls until every file present now has been handled (for tests and one-shot runs).
    pub fn drain(&self) -> io::Result<Vec<FileOutcome>> {
        let mut all = self.poll()?;
        all.extend(self.poll()?);
        Ok(all)
    }

    fn answer_file(&self, path: &Path) -> io::Result<FileOutcome> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with(BULK_REQUEST_PREFIX) {
            return self.reject(
                path,
                &name,
                "bulk requests (OQSmuquc01req_*) are not supported by the simulator",
            );
        }
        if !name.starts_with(SINGLE_REQUEST_PREFIX) || !name.to_ascii_lowercase().ends_with(".xml")
        {
            return self.reject(path, &name, "request files are named OQSsiquc01req_*.xml");
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => return self.reject(path, &name, &format!("cannot be read: {error}")),
        };
        let request = match xml::parse_request(&bytes) {
            Ok(request) => request,
            Err(error) => return self.reject(path, &name, &error.to_string()),
        };
        let response = match &request {
            FileRequest::Card(check) => {
                let response = self.oqs.check(check);
                if response.outcome.is_malformed_request() {
                    return self.reject(
                        path,
                        &name,
                        &Oqs::describe_refusal(check, response.outcome),
                    );
                }
                response
            }
            FileRequest::InsuranceCard(lookup) => {
                let response = self.oqs.lookup_by_insurance_card(lookup);
                if response.outcome.is_malformed_request() {
                    return self.reject(path, &name, "MedicalInstitutionCode must be 10 digits, InsurerNumber 8, InsuredBranchNumber 2");
                }
                response
            }
        };
        let response_name = format!("OQSsiquc01res_{}", &name[SINGLE_REQUEST_PREFIX.len()..]);
        let response_path = self.root.join("res").join(&response_name);
        write_atomically(&response_path, &xml::response_to_xml(&response))?;
        let done = self.root.join("req/done").join(&name);
        std::fs::rename(path, &done)?;
        Ok(FileOutcome::Answered {
            request: done,
            response: response_path,
        })
    }

    fn reject(&self, path: &Path, name: &str, message: &str) -> io::Result<FileOutcome> {
        let moved_to = self.root.join("req/error").join(name);
        std::fs::rename(path, &moved_to)?;
        let error_file = self
            .root
            .join("req/error")
            .join(format!("{name}.error.txt"));
        std::fs::write(&error_file, format!("{name}: {message}\n"))?;
        tracing::warn!(file = %name, %message, "request file rejected");
        Ok(FileOutcome::Rejected {
            request: path.to_owned(),
            moved_to,
            error_file,
        })
    }

    /// Writes a face-reader reception result into `face`:
    /// `OQSsiquc01res_face_` + 医療機関コード + 処理コード + counter + `_yyyyMMddHHmmss.xml`.
    pub fn write_face(&self, response: &CheckResponse) -> io::Result<PathBuf> {
        let counter = self.face_counter.fetch_add(1, Ordering::Relaxed) % 10_000;
        let name = format!(
            "OQSsiquc01res_face_{}{}{:04}_{}.xml",
            response.header.medical_institution_code,
            self.face_processing_code,
            counter,
            response.header.process_execution_time
        );
        let path = self.root.join("face").join(name);
        write_atomically(&path, &xml::response_to_xml(response))?;
        Ok(path)
    }

    /// Polls every `interval` until the task is dropped.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
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
}

/// Readers never see a half-written answer: write a hidden temporary file, then rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
