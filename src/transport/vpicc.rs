//! vsmartcard's vpicc framing, as spoken between vpcd (the pcscd driver) and a virtual card.
//!
//! Every message, both ways, is a 2-byte big-endian length followed by that many payload bytes.
//! A 1-byte payload from vpcd is a control code ([`Control`]); anything longer is a C-APDU that
//! the card answers with exactly one R-APDU frame. Power on/off and reset get no answer; GET ATR
//! is answered with the ATR, and an empty answer means "no card" (vpcd then drops the
//! connection, which pcscd reports as a removal).
//!
//! The decoder is incremental so the same code serves a TCP stream, where reads may split a
//! frame anywhere, and a serial line, where a half frame or line noise must be detected and
//! dropped (see [`FrameDecoder::discard`]).

#[cfg(test)]
/// The largest payload the 2-byte length can announce.
pub(crate) const MAX_PAYLOAD: usize = u16::MAX as usize;

/// The smallest C-APDU (CLA INS P1 P2).
const MIN_COMMAND_APDU: usize = 4;

/// A 1-byte control message from vpcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `00`: the reader cuts the card's power. No answer.
    PowerOff,
    /// `01`: cold power-on. No answer (the ATR is fetched with [`Control::GetAtr`]).
    PowerOn,
    /// `02`: warm reset. No answer.
    Reset,
    /// `04`: answer with the ATR, or with an empty payload when there is no card.
    GetAtr,
}

impl Control {
    /// The one-byte code vpicc sends for this control.
    pub fn code(self) -> u8 {
        match self {
            Control::PowerOff => 0x00,
            Control::PowerOn => 0x01,
            Control::Reset => 0x02,
            Control::GetAtr => 0x04,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Control> {
        match code {
            0x00 => Some(Control::PowerOff),
            0x01 => Some(Control::PowerOn),
            0x02 => Some(Control::Reset),
            0x04 => Some(Control::GetAtr),
            _ => None,
        }
    }
}

/// One message from vpcd (or a serial front end) to the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Power or ATR control.
    Control(Control),
    /// A C-APDU, to be answered by exactly one R-APDU.
    Command(Vec<u8>),
}

/// A frame that cannot be a message from vpcd.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A zero-length frame.
    #[error("empty frame (vpcd never sends one)")]
    Empty,
    /// A one-byte frame with a code vpicc does not define.
    #[error("unknown control code {0:#04x}")]
    UnknownControl(u8),
    /// A frame too short for a command and not a control code.
    #[error("{0}-byte frame is neither a control code nor a C-APDU (at least 4 bytes)")]
    TooShortForCommand(usize),
    /// A payload too long for the 2-byte length prefix.
    #[error("payload of {0} bytes does not fit the 2-byte length")]
    TooLong(usize),
}

impl Message {
    /// Interprets one frame payload.
    pub fn parse(payload: &[u8]) -> Result<Message, FrameError> {
        match payload {
            [] => Err(FrameError::Empty),
            [code] => Control::from_code(*code)
                .map(Message::Control)
                .ok_or(FrameError::UnknownControl(*code)),
            short if short.len() < MIN_COMMAND_APDU => {
                Err(FrameError::TooShortForCommand(short.len()))
            }
            command => Ok(Message::Command(command.to_vec())),
        }
    }

    /// The payload bytes of this message (what vpcd would send).
    pub fn to_payload(&self) -> Vec<u8> {
        match self {
            Message::Control(control) => vec![control.code()],
            Message::Command(command) => command.clone(),
        }
    }
}

/// Length prefix + payload in one buffer, so that it leaves in a single write: vpcd waits for
/// the whole frame, and a frame split over two segments meets the peer's delayed ACK.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let length = u16::try_from(payload.len()).map_err(|_| FrameError::TooLong(payload.len()))?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// Reassembles frames from a byte stream that may deliver them in arbitrary pieces.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends bytes read from the stream; whole frames come out of `next_frame`.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, if one has fully arrived.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let header: [u8; 2] = self.buffer.get(..2)?.try_into().ok()?;
        let length = usize::from(u16::from_be_bytes(header));
        if self.buffer.len() < 2 + length {
            return None;
        }
        let payload = self.buffer[2..2 + length].to_vec();
        self.buffer.drain(..2 + length);
        Some(payload)
    }

    /// Bytes received that do not yet form a complete frame.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// Drops everything buffered (a half frame after the line went idle, or bytes following
    /// garbage) and returns how many bytes were dropped.
    pub(crate) fn discard(&mut self) -> usize {
        let dropped = self.buffer.len();
        self.buffer.clear();
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_codes_match_vpcd() {
        assert_eq!(
            Message::parse(&[0x00]),
            Ok(Message::Control(Control::PowerOff))
        );
        assert_eq!(
            Message::parse(&[0x01]),
            Ok(Message::Control(Control::PowerOn))
        );
        assert_eq!(
            Message::parse(&[0x02]),
            Ok(Message::Control(Control::Reset))
        );
        assert_eq!(
            Message::parse(&[0x04]),
            Ok(Message::Control(Control::GetAtr))
        );
        assert_eq!(
            Message::parse(&[0x03]),
            Err(FrameError::UnknownControl(0x03))
        );
        assert_eq!(Message::parse(&[]), Err(FrameError::Empty));
        assert_eq!(
            Message::parse(&[0x00, 0xA4]),
            Err(FrameError::TooShortForCommand(2))
        );
        assert_eq!(
            Message::parse(&[0x00, 0xA4, 0x04, 0x0C]),
            Ok(Message::Command(vec![0x00, 0xA4, 0x04, 0x0C]))
        );
    }

    #[test]
    fn frame_is_big_endian_length_then_payload() {
        assert_eq!(
            encode_frame(&[0x90, 0x00]),
            Ok(vec![0x00, 0x02, 0x90, 0x00])
        );
        assert_eq!(encode_frame(&[]), Ok(vec![0x00, 0x00]));
        let long = vec![0xAB; 0x0123];
        let frame = encode_frame(&long).unwrap();
        assert_eq!(&frame[..2], &[0x01, 0x23]);
        assert_eq!(frame.len(), 0x0125);
        assert_eq!(
            encode_frame(&vec![0; MAX_PAYLOAD + 1]),
            Err(FrameError::TooLong(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn decoder_reassembles_split_and_coalesced_frames() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0x00]);
        assert_eq!(decoder.next_frame(), None);
        decoder.push(&[0x01, 0x04, 0x00, 0x05, 0x00, 0xA4]);
        assert_eq!(decoder.next_frame(), Some(vec![0x04]));
        assert_eq!(decoder.next_frame(), None);
        assert_eq!(decoder.pending(), 4);
        decoder.push(&[0x04, 0x0C, 0x00, 0x00, 0x01]);
        assert_eq!(
            decoder.next_frame(),
            Some(vec![0x00, 0xA4, 0x04, 0x0C, 0x00])
        );
        assert_eq!(decoder.next_frame(), None);
        assert_eq!(decoder.discard(), 2);
        assert_eq!(decoder.pending(), 0);
    }

    proptest::proptest! {
        #[test]
        fn any_split_of_a_frame_stream_decodes_to_the_same_payloads(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..8),
            cut in 1usize..64,
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| encode_frame(p).unwrap()).collect();
            let mut decoder = FrameDecoder::new();
            let mut decoded = Vec::new();
            for piece in stream.chunks(cut) {
                decoder.push(piece);
                while let Some(frame) = decoder.next_frame() {
                    decoded.push(frame);
                }
            }
            proptest::prop_assert_eq!(decoded, payloads);
            proptest::prop_assert_eq!(decoder.pending(), 0);
        }
    }
}
