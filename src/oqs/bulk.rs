//! 一括照会 through files (docs/spec/oqs-xml.md §3): an `OQSmuquc01req` upload is answered at once with a
//! receipt (`OQSmuquc01res`: `ReceptionNumber`, `ReceptionDateTime`); an `OQSmuquc02req` naming
//! that number gets the results (`OQSmuquc02res`: one `BulkConfirmUnit` per person, each with
//! the echo of its query). The answers are computed at upload, on the upload's date, and kept
//! in memory: a restarted server no longer knows earlier reception numbers and answers them
//! with SegmentOfResult 9.

use std::collections::HashMap;
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

/// The receptions of one server run.
#[derive(Default)]
pub(crate) struct BulkReceptions {
    counter: AtomicU64,
    receptions: Mutex<HashMap<String, Reception>>,
}

fn timestamp(date: chrono::NaiveDate, time: NaiveTime) -> String {
    format!("{}{}", yyyymmdd(date), time.format("%H%M%S"))
}

impl BulkReceptions {
    /// Answers every query of `upload` and returns the receipt's XML text.
    pub fn upload(&self, oqs: &Oqs, upload: &BulkUpload, charset: CharacterCode) -> String {
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
        self.receptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                reception_number.clone(),
                Reception {
                    facility_code: upload.facility_code.clone(),
                    date: yyyymmdd(upload.date),
                    arbitrary_file_identifier: upload.arbitrary_file_identifier.clone(),
                    answers,
                },
            );
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
        out.finish()
    }

    /// The results of the upload `request` names, as `OQSmuquc02res` XML text.
    pub fn download(&self, request: &BulkDownload, charset: CharacterCode) -> String {
        let receptions = self
            .receptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = receptions
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
                "この医療機関の受付番号として見つかりません (unknown ReceptionNumber for this MedicalInstitutionCode)",
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
