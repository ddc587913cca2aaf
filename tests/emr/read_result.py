#!/usr/bin/env python3
"""Reads an OQS result or face file the way public EMR code does (docs/spec/oqs-xml.md §4, §6), with the
standard library only, and prints what it read as JSON: an independent parser for our files.

- the encoding comes from the XML declaration (CP932 for Shift_JIS, as OD and MR read it);
- element order is ignored, values are trimmed (fast-xml-parser, XDocument);
- a result counts as 有効 only when SegmentOfResult, ProcessingResultStatus and
  QualificationValidity are all 1 and there is exactly one ResultOfQualificationConfirmation
  (MC-R isValid);
- the burden ratio: InsuredPartialContributionRatio only for insurer numbers 39xxxxxx (MC-R,
  ST), else ElderlyRecipientContributionRatio, else none;
- ArbitraryFileIdentifier is also found by exact substring, as EO pairs results;
- the echoed QualificationConfirmSearchInfo must hold what MC-R's model requires of it
  (InsurerNumber, InsuredIdentificationNumber, Birthdate, LimitApplicationCertificateRelatedConsFlg);
  the elements it lacks are listed, as a strict parser would refuse the answer for them.
"""

ECHO_REQUIRED = (
    "InsurerNumber",
    "InsuredIdentificationNumber",
    "Birthdate",
    "LimitApplicationCertificateRelatedConsFlg",
)
import json
import re
import sys
import xml.etree.ElementTree as ET


def text_of(element, path):
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def main(path):
    raw = open(path, "rb").read()
    head = raw[:200].decode("ascii", "replace")
    declared = re.search(r"encoding=[\"']([^\"']+)[\"']", head)
    encoding = declared.group(1) if declared else "UTF-8"
    codec = "cp932" if encoding.lower() in ("shift_jis", "shift-jis", "sjis") else "utf-8"
    text = raw.decode(codec)
    # ElementTree refuses a str that still declares an encoding.
    body = re.sub(r"^<\?xml[^>]*\?>", "", text)
    root = ET.fromstring(body)
    assert root.tag == "XmlMsg", root.tag
    header = root.find("MessageHeader")
    message_body = root.find("MessageBody")
    results = message_body.findall("ResultList/ResultOfQualificationConfirmation")
    out = {
        "encoding": encoding,
        "character_code": text_of(header, "CharacterCodeIdentifier"),
        "segment": text_of(header, "SegmentOfResult"),
        "reference": text_of(header, "ReferenceClassification"),
        "status": text_of(message_body, "ProcessingResultStatus"),
        "validity": text_of(message_body, "QualificationValidity"),
        "results": len(results),
        "echo_insurer": text_of(message_body, "QualificationConfirmSearchInfo/InsurerNumber"),
        "afi": text_of(header, "ArbitraryFileIdentifier"),
    }
    echo = message_body.find("QualificationConfirmSearchInfo")
    out["echo_missing"] = (
        None if echo is None else [name for name in ECHO_REQUIRED if not text_of(echo, name)]
    )
    afi_raw = re.search(r"<ArbitraryFileIdentifier>(.*?)</ArbitraryFileIdentifier>", text)
    out["afi_raw"] = afi_raw.group(1) if afi_raw else None
    out["valid"] = (
        out["segment"] == "1"
        and out["status"] == "1"
        and out["validity"] == "1"
        and len(results) == 1
    )
    if results:
        r = results[0]
        insurer = text_of(r, "InsurerNumber")
        ratio = None
        if insurer is not None and len(insurer) == 8 and insurer.startswith("39"):
            ratio = text_of(r, "InsuredPartialContributionRatio")
        elif r.find("ElderlyRecipientCertificateInfo") is not None:
            ratio = text_of(r, "ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio")
        raw_insurer = r.find("InsurerNumber")
        out.update({
            "insurer": insurer,
            "insurer_raw": raw_insurer.text if raw_insurer is not None else None,
            "name": text_of(r, "Name"),
            "kana": text_of(r, "NameKana"),
            "ratio": ratio,
            "valid_date": text_of(r, "InsuredCardValidDate"),
            "pharmacists_flag": text_of(r, "PharmacistsInfoConsFlg"),
            "pharmacists_time": text_of(r, "PharmacistsInfoConsTime"),
            "pharmacists_available": text_of(r, "PharmacistsInfoAvailableTime"),
            "diagnosis_time": text_of(r, "DiagnosisInfoConsTime"),
            "limit_flag": text_of(r, "LimitApplicationCertificateRelatedConsFlg"),
            "limit_time": text_of(r, "LimitApplicationCertificateRelatedConsTime"),
            "limit_class": text_of(
                r, "LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateClassificationFlag"
            ),
        })
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
