//! `--driver CMD` (and `--reference`): a device automation process speaking the driver
//! protocol v1 ([`super::protocol`]) on its stdin and stdout.
//!
//! The process is started once. Every instruction gets exactly one answer line within its
//! timeout; an answer that is not JSON, has another `id`, or does not come in time fails the
//! step, and the process is ended. The harness starts it again (with a new `hello`) for the
//! next case, so that one broken case does not take the rest of the run with it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use super::dut::{DeviceError, DeviceUnderTest, Hello};
use super::observed::Witness;
use super::protocol::{Action, DriverAnswer, Instruction, Op, PROTOCOL_NAME, PROTOCOL_VERSION};

/// How long a driver may take to start and answer `hello`.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// `begin_case`, `end_case`, `shutdown`.
pub(crate) const HOUSEKEEPING_TIMEOUT: Duration = Duration::from_secs(15);
/// An answer line longer than this is not an answer.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How to start the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DriverCommand {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    /// For messages: what the user asked for.
    pub(crate) display: String,
}

impl DriverCommand {
    /// A vendor's command line, run through `sh -c`.
    pub(crate) fn shell(command: &str) -> DriverCommand {
        DriverCommand {
            program: "sh".into(),
            args: vec!["-c".into(), command.into()],
            display: command.into(),
        }
    }
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Result<String, String>>,
}

/// The driver process and the protocol state.
pub(crate) struct Driver {
    command: DriverCommand,
    running: Option<Running>,
    next_id: u64,
    hello: Option<Hello>,
    device: Option<String>,
    /// The actions the device declared in `hello` that it cannot do.
    unsupported: Vec<String>,
}

impl Driver {
    pub(crate) fn new(command: DriverCommand) -> Driver {
        Driver {
            command,
            running: None,
            next_id: 0,
            hello: None,
            device: None,
            unsupported: Vec::new(),
        }
    }

    fn spawn(&mut self) -> Result<(), DeviceError> {
        let mut child = Command::new(&self.command.program)
            .args(&self.command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| {
                DeviceError::Start(format!("cannot start `{}`: {error}", self.command.display))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(DeviceError::Start("no pipes to the driver".into()));
        };
        let (sender, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("certify-driver-stdout".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                loop {
                    let mut line = String::new();
                    let read = std::io::Read::take(&mut reader, MAX_ANSWER_BYTES as u64)
                        .read_line(&mut line);
                    let item = match read {
                        Ok(0) => Err("the driver closed its stdout (exited?)".to_owned()),
                        Ok(_) if !line.ends_with('\n') && line.len() >= MAX_ANSWER_BYTES => Err(
                            format!("an answer line longer than {MAX_ANSWER_BYTES} bytes"),
                        ),
                        Ok(_) => Ok(line),
                        Err(error) => Err(format!("reading the driver's stdout: {error}")),
                    };
                    let end = item.is_err();
                    if sender.send(item).is_err() || end {
                        return;
                    }
                }
            })
            .map_err(|error| DeviceError::Start(error.to_string()))?;
        self.running = Some(Running {
            child,
            stdin,
            lines,
        });
        Ok(())
    }

    /// Ends the process (after a protocol failure, or at shutdown when it does not exit).
    fn kill(&mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }

    /// Sends one instruction and waits for its answer.
    fn exchange(&mut self, op: Op, timeout: Duration) -> Result<DriverAnswer, DeviceError> {
        if self.running.is_none() {
            self.restart()?;
        }
        let result = self.exchange_once(op, timeout);
        if result.is_err() {
            self.kill();
        }
        result
    }

    fn exchange_once(&mut self, op: Op, timeout: Duration) -> Result<DriverAnswer, DeviceError> {
        let id = self.next_id;
        self.next_id += 1;
        let instruction = Instruction { id, op };
        let mut line = serde_json::to_string(&instruction)
            .map_err(|error| DeviceError::Protocol(error.to_string()))?;
        line.push('\n');
        let running = self
            .running
            .as_mut()
            .ok_or_else(|| DeviceError::Protocol("the driver is not running".into()))?;
        running
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| running.stdin.flush())
            .map_err(|error| DeviceError::Exited(format!("writing to the driver: {error}")))?;
        let text = match running.lines.recv_timeout(timeout) {
            Ok(Ok(text)) => text,
            Ok(Err(message)) => return Err(DeviceError::Exited(message)),
            Err(RecvTimeoutError::Timeout) => {
                return Err(DeviceError::Timeout(format!(
                    "no answer to instruction {id} within {} ms",
                    timeout.as_millis()
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(DeviceError::Exited("the driver's stdout closed".into()))
            }
        };
        let answer: DriverAnswer = serde_json::from_str(text.trim()).map_err(|error| {
            DeviceError::Protocol(format!(
                "answer to instruction {id} is not a protocol v1 answer ({error}): {}",
                shorten(text.trim())
            ))
        })?;
        if answer.id != id {
            return Err(DeviceError::Protocol(format!(
                "answer carries id {} but instruction {id} was sent",
                answer.id
            )));
        }
        Ok(answer)
    }

    /// Starts the process and says hello (again).
    fn restart(&mut self) -> Result<(), DeviceError> {
        self.kill();
        self.spawn()?;
        let Some(hello) = self.hello.clone() else {
            return Ok(());
        };
        let answer = self.exchange_once(hello_op(&hello), HELLO_TIMEOUT);
        match answer {
            Ok(answer) if answer.ok => {
                self.device = answer.device.clone();
                self.unsupported = answer.unsupported.clone();
                Ok(())
            }
            Ok(answer) => {
                self.kill();
                Err(DeviceError::Start(format!(
                    "the driver refused hello: {}",
                    answer
                        .error
                        .map(|e| format!("{}: {}", e.kind, e.message))
                        .unwrap_or_else(|| "no reason given".into())
                )))
            }
            Err(error) => {
                self.kill();
                Err(error)
            }
        }
    }
}

fn hello_op(hello: &Hello) -> Op {
    Op::Hello {
        protocol: PROTOCOL_NAME.into(),
        version: PROTOCOL_VERSION,
        reader: hello.reader.clone(),
        oqs_url: hello.oqs_url.clone(),
        files_dir: hello.files_dir.clone(),
        facility_code: hello.facility_code.clone(),
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

impl DeviceUnderTest for Driver {
    fn witness(&self) -> Witness {
        Witness::DriverReported
    }

    fn hello(&mut self, hello: &Hello) -> Result<Option<String>, DeviceError> {
        self.hello = Some(hello.clone());
        self.restart()?;
        Ok(self.device.clone())
    }

    fn declared_unsupported(&self) -> &[String] {
        &self.unsupported
    }

    fn begin_case(
        &mut self,
        case: &str,
        date: chrono::NaiveDate,
    ) -> Result<DriverAnswer, DeviceError> {
        self.exchange(
            Op::BeginCase {
                case: case.into(),
                date: date.format("%Y-%m-%d").to_string(),
            },
            HOUSEKEEPING_TIMEOUT,
        )
    }

    fn step(
        &mut self,
        case: &str,
        step: u32,
        action: &Action,
        _prompt: &str,
        timeout: Duration,
    ) -> Result<DriverAnswer, DeviceError> {
        self.exchange(
            Op::Step {
                case: case.into(),
                step,
                action: action.clone(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
            timeout,
        )
    }

    fn ask(&mut self, _question: &super::catalogue::Question) -> Option<bool> {
        None
    }

    fn end_case(&mut self, case: &str) -> Result<DriverAnswer, DeviceError> {
        self.exchange(Op::EndCase { case: case.into() }, HOUSEKEEPING_TIMEOUT)
    }

    fn shutdown(&mut self) {
        if self.running.is_some() {
            let _ = self.exchange_once(Op::Shutdown, HOUSEKEEPING_TIMEOUT);
        }
        if let Some(mut running) = self.running.take() {
            drop(running.stdin);
            // A driver gets a moment to exit by itself after `shutdown`.
            for _ in 0..20 {
                if matches!(running.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}
