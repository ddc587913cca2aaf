//! BER-TLV writing for the card's proprietary files.
//!
//! Written by hand on purpose: the files use private/application tags (`FF 20`, `DF 21`,
//! `7F 21`) whose byte layout must match the card exactly, including fixed file sizes and
//! offset tables, which DER encoders for universal types do not model.

/// Appends a BER length the way the issuer writes it: short form below 128, else always the
/// two-byte long form `82 HH LL`, even below 256 (`82 00 91`; the `81` form never appears,
/// docs/spec/card-measured.md §1.3, and signatures cover the bytes as written).
pub(crate) fn push_length(out: &mut Vec<u8>, length: usize) {
    match length {
        0..=0x7F => out.push(length as u8),
        _ => {
            let [hi, lo] = (length.min(0xFFFF) as u16).to_be_bytes();
            out.extend_from_slice(&[0x82, hi, lo]);
        }
    }
}

pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    push_length(out, value.len());
    out.extend_from_slice(value);
}

/// Pads `file` with `FF` up to `size` bytes (files on the card have fixed sizes).
pub(crate) fn pad_to(file: &mut Vec<u8>, size: usize) {
    if file.len() < size {
        file.resize(size, 0xFF);
    }
}

/// A file `<outer tag> <len> { DF 21 <offsets> , entries... }` whose offset table holds the
/// big-endian u16 offset, from the file start, of each entry's tag. Returns the file and the
/// range of the entries (from the first entry's tag to the end of the last).
pub(crate) fn offset_table_file(
    outer_tag: [u8; 2],
    entries: &[([u8; 2], &[u8])],
) -> (Vec<u8>, std::ops::Range<usize>) {
    let table_length = entries.len() * 2;
    let mut body = Vec::new();
    push_tlv(&mut body, &[0xDF, 0x21], &vec![0; table_length]);
    let table_start = body.len() - table_length;
    let mut positions = Vec::with_capacity(entries.len());
    for (tag, value) in entries {
        positions.push(body.len());
        push_tlv(&mut body, tag, value);
    }
    let mut file = outer_tag.to_vec();
    push_length(&mut file, body.len());
    let header = file.len();
    for (slot, position) in positions.iter().enumerate() {
        let offset = u16::try_from(header + position)
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        body[table_start + 2 * slot..table_start + 2 * slot + 2].copy_from_slice(&offset);
    }
    let entries_range =
        header + positions.first().copied().unwrap_or(body.len())..header + body.len();
    file.extend_from_slice(&body);
    (file, entries_range)
}

/// `YYYYMMDD` as ASCII.
pub(crate) fn ascii_date(date: chrono::NaiveDate) -> Vec<u8> {
    date.format("%Y%m%d").to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for (length, expected) in [
            (5usize, vec![5u8]),
            (0x80, vec![0x82, 0x00, 0x80]),
            (0x233, vec![0x82, 0x02, 0x33]),
        ] {
            let mut out = Vec::new();
            push_length(&mut out, length);
            assert_eq!(out, expected);
        }
    }
}
