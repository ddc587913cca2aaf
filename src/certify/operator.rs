//! Interactive mode: a person at the device follows bilingual prompts, presses Enter when the
//! device has reacted, and answers yes/no questions about what it shows. Every step has a
//! timeout; a person who does not answer in time fails the step.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::catalogue::Question;
use super::dut::{DeviceError, DeviceUnderTest, Hello};
use super::observed::Witness;
use super::protocol::{Action, DriverAnswer};

/// How long a person has to answer a question.
const QUESTION_TIMEOUT: Duration = Duration::from_secs(300);
/// A person gets at least this long per step, whatever the case allows an automated driver:
/// reading a prompt and pressing keys on a PIN pad takes longer than a driver needs.
const MIN_STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the device gets to react to the card arriving or leaving before the next prompt.
const DEVICE_SETTLE: Duration = Duration::from_secs(2);

/// The person at the device, through a terminal (or any line reader and writer).
pub(crate) struct Operator {
    lines: Receiver<String>,
    out: Box<dyn Write + Send>,
    min_step_timeout: Duration,
    device_settle: Duration,
}

impl Operator {
    /// Reads answers from stdin (on its own thread, so that every wait can time out) and
    /// prompts on stderr.
    pub(crate) fn from_terminal() -> Operator {
        Operator::new(
            Box::new(std::io::BufReader::new(std::io::stdin())),
            Box::new(std::io::stderr()),
        )
    }

    pub(crate) fn new(input: Box<dyn BufRead + Send>, out: Box<dyn Write + Send>) -> Operator {
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in input.lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Operator {
            lines,
            out,
            min_step_timeout: MIN_STEP_TIMEOUT,
            device_settle: DEVICE_SETTLE,
        }
    }

    fn say(&mut self, text: &str) {
        // A closed terminal only loses the prompt; the timeout still ends the wait.
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn wait_line(&mut self, timeout: Duration) -> Result<String, DeviceError> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(DeviceError::Timeout(format!(
                "no answer from the operator within {} s",
                timeout.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(DeviceError::Exited("the operator's input closed".into()))
            }
        }
    }
}

impl DeviceUnderTest for Operator {
    fn witness(&self) -> Witness {
        Witness::OperatorJudged
    }

    /// A person is prompted for every phone step; a device without the smartphone path
    /// cannot follow them, which the steps then show.
    fn supports_phones(&self) -> bool {
        true
    }

    fn hello(&mut self, hello: &Hello) -> Result<Option<String>, DeviceError> {
        self.say("== myna-hil certify: 対話モード / interactive mode ==");
        if let Some(reader) = &hello.reader {
            self.say(&format!(
                "カードはリーダー「{reader}」に提供されます / The card is served in reader \"{reader}\""
            ));
        }
        if let Some(reader) = &hello.generic_reader {
            self.say(&format!(
                "スマートフォンは汎用カードリーダー「{reader}」に提供されます / The phone is served in the generic reader \"{reader}\""
            ));
        }
        if let Some(url) = &hello.oqs_url {
            self.say(&format!(
                "資格確認システム: {url} / Qualification system: {url}"
            ));
        }
        if let Some(dir) = &hello.files_dir {
            self.say(&format!("ファイル連携: {dir} / File interface: {dir}"));
        }
        self.say(&format!(
            "医療機関コード {} を設定してください / Set the facility code {}",
            hello.facility_code, hello.facility_code
        ));
        self.say("準備ができたら Enter / Press Enter when ready");
        self.wait_line(QUESTION_TIMEOUT)?;
        Ok(None)
    }

    fn begin_case(
        &mut self,
        case: &str,
        date: chrono::NaiveDate,
    ) -> Result<DriverAnswer, DeviceError> {
        self.say(&format!(
            "\n-- ケース {case} ({date}) / case {case} ({date}) --\n端末を待受画面に戻してください / Bring the device back to its idle screen"
        ));
        Ok(DriverAnswer {
            ok: true,
            ..DriverAnswer::default()
        })
    }

    fn step(
        &mut self,
        _case: &str,
        step: u32,
        action: &Action,
        prompt: &str,
        timeout: Duration,
    ) -> Result<DriverAnswer, DeviceError> {
        // What the harness does itself, and waiting, need nobody: a case made only of these
        // (a device that reads on insertion) runs unattended.
        let unattended = match action {
            Action::CardPlaced
            | Action::CardRemoved
            | Action::PhonePlaced
            | Action::PhoneRemoved => Some(self.device_settle),
            Action::Wait { ms } => Some(Duration::from_millis(*ms)),
            _ => None,
        };
        if let Some(pause) = unattended {
            self.say(&format!("[{step}] {prompt}"));
            std::thread::sleep(pause);
            return Ok(DriverAnswer {
                ok: true,
                ..DriverAnswer::default()
            });
        }
        let timeout = timeout.max(self.min_step_timeout);
        self.say(&format!(
            "[{step}] {prompt}\n    終わったら Enter（{} 秒以内）/ Press Enter when done (within {} s)",
            timeout.as_secs(),
            timeout.as_secs()
        ));
        self.wait_line(timeout)?;
        Ok(DriverAnswer {
            ok: true,
            ..DriverAnswer::default()
        })
    }

    fn ask(&mut self, question: &Question) -> Option<bool> {
        loop {
            self.say(&format!("? {}\n? {} [y/n]", question.ja, question.en));
            let line = self.wait_line(QUESTION_TIMEOUT).ok()?;
            match line.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" | "はい" => return Some(true),
                "n" | "no" | "いいえ" => return Some(false),
                _ => self.say("y か n で答えてください / Answer y or n"),
            }
        }
    }

    fn end_case(&mut self, _case: &str) -> Result<DriverAnswer, DeviceError> {
        Ok(DriverAnswer {
            ok: true,
            ..DriverAnswer::default()
        })
    }

    fn shutdown(&mut self) {
        self.say("== 終了 / done ==");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn question() -> Question {
        Question {
            ja: "有効と表示されましたか".into(),
            en: "Does it show valid?".into(),
            expect_yes: true,
        }
    }

    #[test]
    fn answers_are_read_and_nonsense_is_asked_again() {
        let out = Captured::default();
        let mut operator = Operator::new(
            Box::new(std::io::Cursor::new("maybe\nn\n\n")),
            Box::new(out.clone()),
        );
        operator.device_settle = Duration::ZERO;
        // The harness placing the card takes no line of input.
        let placed = operator
            .step(
                "c",
                1,
                &Action::CardPlaced,
                "placed",
                Duration::from_secs(5),
            )
            .unwrap();
        assert!(placed.ok);
        assert_eq!(operator.ask(&question()), Some(false));
        let answer = operator
            .step("c", 1, &Action::ChoosePin, "choose", Duration::from_secs(5))
            .unwrap();
        assert!(answer.ok);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("Answer y or n"), "{text}");
        assert!(text.contains("有効と表示されましたか"), "{text}");
    }

    #[test]
    fn a_silent_operator_times_out() {
        /// Input that never comes while the sender lives.
        struct Silent(std::sync::mpsc::Receiver<()>);
        impl std::io::Read for Silent {
            fn read(&mut self, _buffer: &mut [u8]) -> std::io::Result<usize> {
                let _ = self.0.recv();
                Ok(0)
            }
        }
        let (_keep_open, silence) = std::sync::mpsc::channel::<()>();
        let mut operator = Operator::new(
            Box::new(std::io::BufReader::new(Silent(silence))),
            Box::new(Captured::default()),
        );
        operator.min_step_timeout = Duration::ZERO;
        let error = operator
            .step(
                "c",
                1,
                &Action::ChoosePin,
                "choose",
                Duration::from_millis(50),
            )
            .unwrap_err();
        assert!(matches!(error, DeviceError::Timeout(_)), "{error:?}");
    }
}
