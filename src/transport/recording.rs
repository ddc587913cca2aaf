//! The recording wrapper: any [`Transport`] (virtual, vpcd-served, PC/SC, serial) wrapped so
//! that everything passing through it lands in one [`Transcript`] — the exchange log that
//! reports, replay and the certification judge read.

use std::time::{Duration, Instant};

use super::{Transport, TransportError};
use crate::trace::{ApduExchange, Event, ExchangeAnswer, PowerChange, Transcript};

/// A transport that logs every command, answer and power change it carries.
///
/// Entries are stamped with the wall time since the wrapper was made, or with the clock given
/// by [`Recording::with_clock`] (the virtual reader's simulated time, for instance).
pub(crate) struct Recording<T> {
    inner: T,
    transcript: Transcript,
    started: Instant,
    clock: Option<Box<dyn Fn() -> Duration + Send>>,
}

impl<T: Transport> Recording<T> {
    pub(crate) fn new(inner: T) -> Recording<T> {
        Recording {
            inner,
            transcript: Transcript::default(),
            started: Instant::now(),
            clock: None,
        }
    }

    fn now(&self) -> Duration {
        self.clock
            .as_ref()
            .map_or_else(|| self.started.elapsed(), |clock| clock())
    }

    /// Adds an event the transport cannot see (a reader event applied beside it).
    pub(crate) fn note(&mut self, event: Event) {
        let at = self.now();
        self.transcript.push(at, event);
    }

    /// The log so far, leaving an empty one behind.
    pub(crate) fn take_transcript(&mut self) -> Transcript {
        std::mem::take(&mut self.transcript)
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn connect(&mut self) -> Result<Vec<u8>, TransportError> {
        let result = self.inner.connect();
        self.note(match &result {
            Ok(atr) => Event::PowerOn {
                atr: (!atr.is_empty()).then(|| atr.clone()),
            },
            Err(error) => Event::PowerFailed {
                change: PowerChange::On,
                error: error.failure(),
            },
        });
        result
    }

    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let result = self.inner.transmit(capdu);
        let answer = match &result {
            Ok(rapdu) => ExchangeAnswer::Response(rapdu.clone()),
            Err(error) => ExchangeAnswer::Failed(error.failure()),
        };
        let card_time = result
            .is_ok()
            .then(|| self.inner.last_card_time())
            .flatten();
        self.note(Event::Apdu(ApduExchange {
            card_time,
            ..ApduExchange::new(capdu, answer)
        }));
        result
    }

    fn disconnect(&mut self) -> Result<(), TransportError> {
        let result = self.inner.disconnect();
        self.note(match &result {
            Ok(()) => Event::PowerOff,
            Err(error) => Event::PowerFailed {
                change: PowerChange::Off,
                error: error.failure(),
            },
        });
        result
    }

    fn reset(&mut self) -> Result<Vec<u8>, TransportError> {
        let result = self.inner.reset();
        self.note(match &result {
            Ok(atr) => Event::Reset {
                atr: (!atr.is_empty()).then(|| atr.clone()),
            },
            Err(error) => Event::PowerFailed {
                change: PowerChange::Reset,
                error: error.failure(),
            },
        });
        result
    }

    fn is_emulated_card(&self) -> bool {
        self.inner.is_emulated_card()
    }

    fn last_card_time(&self) -> Option<Duration> {
        self.inner.last_card_time()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::build;
    use crate::card::{Card, CardDescription};
    use crate::pki::TestPki;
    use crate::transport::virtual_reader::VirtualReader;

    #[test]
    fn the_log_holds_power_commands_and_secrets_in_order() {
        let description =
            CardDescription::from_yaml_file(std::path::Path::new("fixtures/cards/standard.yaml"))
                .unwrap();
        let card = Card::from_description(&description, TestPki::load().unwrap()).unwrap();
        let mut reader = VirtualReader::with_card(card);
        let mut recording = Recording::new(&mut reader);
        recording.connect().unwrap();
        recording
            .transmit(&build::select_aid(&crate::apdu::ids::AID_JPKI))
            .unwrap();
        recording.transmit(&build::select_fid(0x0018)).unwrap();
        recording
            .transmit(&build::verify(b"9999").unwrap())
            .unwrap();
        recording.disconnect().unwrap();
        let transcript = recording.take_transcript();
        assert!(matches!(
            transcript.entries[0].event,
            Event::PowerOn { atr: Some(_) }
        ));
        assert_eq!(
            transcript.entries.last().map(|e| &e.event),
            Some(&Event::PowerOff)
        );
        let verify = transcript.exchanges().nth(2).unwrap();
        assert_eq!(verify.command, build::verify(b"9999").unwrap());
        assert_eq!(verify.status_word().map(|sw| sw.0), Some(0x63C2));
        // The card's own time: a VERIFY takes the model 40 ms.
        assert_eq!(verify.card_time, Some(Duration::from_millis(40)));
    }
}
