//! Synthetic card-face images: structurally valid PNG and JPEG 2000 containers of realistic
//! size, without real pixels (the harness never renders them; readers only check the
//! containers and sizes, and face matching is simulated above the card).

/// A PNG of exactly `size` bytes (at least 57): signature, IHDR with the given dimensions,
/// a private ancillary chunk `myNa` carrying `label` repeated as filler, IEND. All chunk CRCs
/// are correct, so PNG parsers accept the structure.
pub(crate) fn synthetic_png(width: u32, height: u32, label: &[u8], size: usize) -> Vec<u8> {
    const FIXED: usize = 8 + 25 + 12 + 12;
    let filler_length = size.saturating_sub(FIXED);
    let mut out = Vec::with_capacity(FIXED + filler_length);
    out.extend_from_slice(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 1-bit greyscale, deflate, adaptive filter, no interlace: a scanned line drawing.
    header.extend_from_slice(&[1, 0, 0, 0, 0]);
    push_png_chunk(&mut out, b"IHDR", &header);
    push_png_chunk(&mut out, b"myNa", &filler(label, filler_length));
    push_png_chunk(&mut out, b"IEND", &[]);
    out
}

fn push_png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A JPEG 2000 (JP2) file of exactly `size` bytes (at least 44): signature box, `ftyp` box,
/// and a `jp2c` box whose codestream starts with SOC/SIZ markers and ends with EOC.
pub(crate) fn synthetic_jpeg2000(label: &[u8], size: usize) -> Vec<u8> {
    const SIGNATURE_BOX: [u8; 12] = [
        0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A,
    ];
    const FTYP_BOX: [u8; 20] = [
        0x00, 0x00, 0x00, 0x14, b'f', b't', b'y', b'p', b'j', b'p', b'2', b' ', 0x00, 0x00, 0x00,
        0x00, b'j', b'p', b'2', b' ',
    ];
    let codestream_length = size
        .saturating_sub(SIGNATURE_BOX.len() + FTYP_BOX.len() + 8)
        .max(6);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&SIGNATURE_BOX);
    out.extend_from_slice(&FTYP_BOX);
    out.extend_from_slice(&((codestream_length + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"jp2c");
    out.extend_from_slice(&[0xFF, 0x4F, 0xFF, 0x51]);
    out.extend_from_slice(&filler(label, codestream_length - 6));
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// `length` bytes of `label` repeated (zeros when the label is empty); never contains `FF`
/// so it cannot fake a JPEG 2000 marker.
fn filler(label: &[u8], length: usize) -> Vec<u8> {
    if label.is_empty() {
        return vec![0; length];
    }
    label
        .iter()
        .cycle()
        .take(length)
        .map(|b| if *b == 0xFF { 0xFE } else { *b })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_exact_size_and_valid_ihdr_crc() {
        let png = synthetic_png(300, 80, "山田".as_bytes(), 1200);
        assert_eq!(png.len(), 1200);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        // CRC of "IHDR" + 13 data bytes, computed independently of push_png_chunk's order.
        let crc = crc32fast::hash(&png[12..29]);
        assert_eq!(&png[29..33], &crc.to_be_bytes());
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }

    #[test]
    fn jpeg2000_has_exact_size_and_markers() {
        let jp2 = synthetic_jpeg2000(b"photo", 3000);
        assert_eq!(jp2.len(), 3000);
        assert_eq!(&jp2[4..8], b"jP  ");
        assert_eq!(&jp2[36..40], b"jp2c");
        assert_eq!(&jp2[40..42], &[0xFF, 0x4F]);
        assert_eq!(&jp2[jp2.len() - 2..], &[0xFF, 0xD9]);
    }
}
