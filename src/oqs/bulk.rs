//! 一括照会 through files (docs/spec/oqs-xml.md §3): an `OQSmuquc01req` upload is answered at once with a
//! receipt (`OQSmuquc01res`: `ReceptionNumber`, `ReceptionDateTime`); an `OQSmuquc02req` naming
//! that number gets the results (`OQSmuquc02res`: one `BulkConfirmUnit` per person, each with
//! the echo of its query). The answers are computed at upload, on the upload's date, and kept
//! in memory: a restarted server no longer knows earlier reception numbers and answers them
//! with SegmentOfResult 9.
//!
//! Only the latest [`MAX_KEPT_RECEPTIONS`] receptions are kept (an older number is answered
//! like an unknown one): each holds up to 10,000 answers, about 20 MB, and 40 uploads kept
//! forever once took the server to 843 MB. A reception is kept only once its receipt has been
//! written ([`BulkReceptions::prepare`], then [`BulkReceptions::commit`]): an upload whose
//! receipt cannot be written is never a reception a client could not have learned of.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::NaiveTime;

use crate::oqs::codes::{CharacterCode, SegmentOfResult};
use crate::oqs::message::{yyyymmdd, CheckResponse};
use crate::oqs::service::Oqs;
use crate::oqs::xml::{self, BulkDownload, BulkUpload, XmlOut, SEARCH_INFO};
use crate::oqs::xml_elements::{write_fields, Fields};

/// One accepted upload and its answers.
struct Reception {
    facility_code: String,
    date: String,
    arbitrary_file_identifier: Option<String>,
    answers: Vec<CheckResponse>,
}

/// How many receptions are kept for download; older ones are forgotten first.
pub(crate) const MAX_KEPT_RECEPTIONS: usize = 8;

/// The receptions of one server run, and the order they came in.
#[derive(Default)]
pub(crate) struct BulkReceptions {
    counter: AtomicU64,
    receptions: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_number: HashMap<String, Reception>,
    order: VecDeque<String>,
}

/// An upload answered but not yet a reception: its receipt's text, and what becomes the
/// reception once the receipt is written.
pub(crate) struct PreparedUpload {
    pub(crate) receipt: String,
    number: String,
    reception: Reception,
}

fn timestamp(date: chrono::NaiveDate, time: NaiveTime) -> String {
    format!("{}{}", yyyymmdd(date), time.format("%H%M%S"))
}

impl BulkReceptions {
    /// Keeps a prepared upload as a reception (after its receipt was written), forgetting the
    /// oldest beyond [`MAX_KEPT_RECEPTIONS`].
    pub(crate) fn commit(&self, prepared: PreparedUpload) {
        let mut kept = self
            .receptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        kept.order.push_back(prepared.number.clone());
        kept.by_number.insert(prepared.number, prepared.reception);
        while kept.order.len() > MAX_KEPT_RECEPTIONS {
            if let Some(oldest) = kept.order.pop_front() {
                kept.by_number.remove(&oldest);
            }
        }
    }

    /// Answers every query of `upload` and numbers it, without keeping it yet.
    pub(crate) fn prepare(
        &self,
        oqs: &Oqs,
        upload: &BulkUpload,
        charset: CharacterCode,
    ) -> PreparedUpload {
        let answers: Vec<CheckResponse> = upload
            .queries
            .iter()
            .map(|query| oqs.lookup_by_insurance_card(query))
            .collect();
        let sequence = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let reception_number = format!("{}{sequence:08}", yyyymmdd(upload.date));
        let time = upload
            .queries
            .first()
            .and_then(|query| query.time)
            .unwrap_or(NaiveTime::MIN);
        let executed = timestamp(upload.date, time);
        let reception = Reception {
            facility_code: upload.facility_code.clone(),
            date: yyyymmdd(upload.date),
            arbitrary_file_identifier: upload.arbitrary_file_identifier.clone(),
            answers,
        };
        let mut out = XmlOut::new(xml::encoding_label(charset));
        out.open("XmlMsg");
        out.open("MessageHeader");
        out.leaf("ProcessExecutionTime", &executed);
        out.leaf("CharacterCodeIdentifier", charset.code());
        out.leaf("SegmentOfResult", SegmentOfResult::NormalEnd.code());
        out.optional(
            "ArbitraryFileIdentifier",
            upload.arbitrary_file_identifier.as_deref(),
        );
        out.leaf("MedicalInstitutionCode", &upload.facility_code);
        out.close("MessageHeader");
        out.open("MessageBody");
        out.leaf("ReceptionNumber", &reception_number);
        out.leaf("ReceptionDateTime", &executed);
        out.close("MessageBody");
        out.close("XmlMsg");
        PreparedUpload {
            receipt: out.finish(),
            number: reception_number,
            reception,
        }
    }

    /// The results of the upload `request` names, as `OQSmuquc02res` XML text.
    pub(crate) fn download(&self, request: &BulkDownload, charset: CharacterCode) -> String {
        let receptions = self
            .receptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = receptions
            .by_number
            .get(&request.reception_number)
            .filter(|reception| reception.facility_code == request.facility_code);
        let mut out = XmlOut::new(xml::encoding_label(charset));
        out.open("XmlMsg");
        out.open("MessageHeader");
        let Some(reception) = found else {
            out.leaf("CharacterCodeIdentifier", charset.code());
            out.leaf("MedicalInstitutionCode", &request.facility_code);
            out.leaf("ReceptionNumber", &request.reception_number);
            out.leaf("SegmentOfResult", SegmentOfResult::AbnormalEnd.code());
            out.leaf(
                "ErrorMessage",
                &format!("この医療機関の受付番号として見つかりません (unknown ReceptionNumber for this MedicalInstitutionCode; only the latest {MAX_KEPT_RECEPTIONS} receptions are kept)"),
            );
            out.close("MessageHeader");
            out.close("XmlMsg");
            return out.finish();
        };
        let normal = reception
            .answers
            .iter()
            .filter(|answer| answer.outcome.is_success())
            .count();
        let executed = reception
            .answers
            .first()
            .map(|answer| answer.header.process_execution_time.clone())
            .unwrap_or_else(|| format!("{}000000", reception.date));
        out.leaf("ProcessExecutionTime", &executed);
        out.leaf("QualificationConfirmationDate", &reception.date);
        out.leaf("MedicalInstitutionCode", &reception.facility_code);
        out.optional(
            "ArbitraryFileIdentifier",
            reception.arbitrary_file_identifier.as_deref(),
        );
        out.leaf("ReceptionNumber", &request.reception_number);
        out.leaf("SegmentOfResult", SegmentOfResult::NormalEnd.code());
        out.leaf(
            "NumberOfProcessingResult",
            &reception.answers.len().to_string(),
        );
        out.leaf("NumberOfNormalProcessing", &normal.to_string());
        out.leaf(
            "NumberOfError",
            &(reception.answers.len() - normal).to_string(),
        );
        out.leaf("CharacterCodeIdentifier", charset.code());
        out.close("MessageHeader");
        out.open("MessageBody");
        for answer in &reception.answers {
            out.open("BulkConfirmUnit");
            // The echo first, then the status, then the results without their list element.
            let body = &answer.body;
            xml::written(write_fields(&mut out, body, Fields::Only(SEARCH_INFO)));
            xml::written(write_fields(
                &mut out,
                body,
                Fields::AllBut(&[SEARCH_INFO, xml::RESULT_LIST]),
            ));
            for result in &body.result_list {
                xml::write_result(&mut out, result);
            }
            out.close("BulkConfirmUnit");
        }
        out.close("MessageBody");
        out.close("XmlMsg");
        out.finish()
    }
}
