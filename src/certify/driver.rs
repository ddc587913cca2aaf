//! `--driver CMD` (and `--reference`): a device automation process speaking the driver
//! protocol v1 ([`super::protocol`]) on its stdin and stdout.
//!
//! The process is started once, in a process group of its own ([`super::process_group`]).
//! Every instruction gets exactly one answer line within its timeout, which bounds writing the
//! instruction as well as reading the answer; an answer that is not JSON, has another `id`, or
//! does not come in time fails the step, as do lines nobody asked for, and the whole group is
//! ended. The harness starts it again (with a new `hello`) for the next case, so that one
//! broken case does not take the rest of the run with it. What the driver writes is read into
//! a queue of a few lines, so no output of a driver can grow the harness's memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dut::{printable, DeviceError, DeviceUnderTest, Hello};
use super::observed::Witness;
use super::process_group::GroupLeader;
use super::protocol::{Action, DriverAnswer, Instruction, Op, PROTOCOL_NAME, PROTOCOL_VERSION};

/// How long a driver may take to start and answer `hello`.
pub(crate) const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// `begin_case`, `end_case`, `shutdown`.
pub(crate) const HOUSEKEEPING_TIMEOUT: Duration = Duration::from_secs(15);
/// An answer line longer than this is not an answer.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Lines read from the driver and not yet taken by the harness. More are read and dropped
/// (counted): a driver flooding its stdout while the harness waits (during a slot change) once
/// queued 1.27 GB in a second. With 1 MiB lines at most, this bounds the queue to 4 MiB.
const QUEUED_LINES: usize = 4;
/// How long a driver gets to exit by itself after `shutdown` before its group is ended.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// Characters of a driver's line quoted in a message.
const QUOTED_CHARS: usize = 200;
/// Bytes of an over-long line quoted in a message (its start is all that tells what it is).
const QUOTED_START_BYTES: usize = 60;

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

/// What the reader of the driver's stdout passes on.
enum FromDriver {
    /// One line, without its line end (invalid UTF-8 replaced).
    Line(String),
    /// A line longer than [`MAX_ANSWER_BYTES`]; the driver's stdout is not read any further.
    TooLong { start: String },
    /// The driver closed its stdout.
    Closed,
    /// Reading failed.
    Failed(String),
}

struct Running {
    /// Dropping it ends the driver's whole process group.
    leader: GroupLeader,
    /// Instruction lines to the writer thread; dropping it closes the driver's stdin.
    instructions: Sender<Vec<u8>>,
    /// The writer thread's result for each instruction line.
    written: Receiver<Result<(), String>>,
    lines: Receiver<FromDriver>,
    /// Lines read while [`QUEUED_LINES`] were already waiting, and so dropped.
    dropped: Arc<AtomicU64>,
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
    /// Whether the device declared in `hello` that it supports phones.
    phones: bool,
}

/// Reads the driver's stdout line by line into a queue of [`QUEUED_LINES`], dropping (and
/// counting) what does not fit, so that memory stays bounded whatever the driver writes.
fn read_lines(stdout: ChildStdout, queue: SyncSender<FromDriver>, dropped: Arc<AtomicU64>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = Vec::new();
        let read = (&mut reader)
            .take(MAX_ANSWER_BYTES as u64 + 1)
            .read_until(b'\n', &mut line);
        let item = match read {
            Ok(0) => FromDriver::Closed,
            Ok(_) if line.last() != Some(&b'\n') && line.len() > MAX_ANSWER_BYTES => {
                let start = String::from_utf8_lossy(&line[..QUOTED_START_BYTES]);
                FromDriver::TooLong {
                    start: start.into_owned(),
                }
            }
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                FromDriver::Line(String::from_utf8_lossy(&line).into_owned())
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => FromDriver::Failed(error.to_string()),
        };
        if !matches!(item, FromDriver::Line(_)) {
            // The last word always reaches the harness (it waits for room if need be).
            let _ = queue.send(item);
            return;
        }
        match queue.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// Writes instruction lines to the driver's stdin on a thread of its own, so that a driver
/// that does not read its stdin cannot block the harness: the harness waits for each write
/// only as long as the instruction's timeout.
fn write_lines(
    mut stdin: ChildStdin,
    instructions: Receiver<Vec<u8>>,
    written: Sender<Result<(), String>>,
) {
    for line in instructions {
        let result = stdin
            .write_all(&line)
            .and_then(|()| stdin.flush())
            .map_err(|error| error.to_string());
        let failed = result.is_err();
        if written.send(result).is_err() || failed {
            return;
        }
    }
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
            phones: false,
        }
    }

    fn spawn(&mut self) -> Result<(), DeviceError> {
        let mut leader = GroupLeader::spawn(
            Command::new(&self.command.program)
                .args(&self.command.args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .map_err(|error| {
            DeviceError::Start(format!("cannot start `{}`: {error}", self.command.display))
        })?;
        let (Some(stdin), Some(stdout)) = leader.take_pipes() else {
            return Err(DeviceError::Start("no pipes to the driver".into()));
        };
        let thread_error = |error: std::io::Error| DeviceError::Start(error.to_string());
        let (queue, lines) = mpsc::sync_channel(QUEUED_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("certify-driver-stdout".into())
            .spawn(move || read_lines(stdout, queue, counter))
            .map_err(thread_error)?;
        let (instructions, to_write) = mpsc::channel();
        let (report, written) = mpsc::channel();
        std::thread::Builder::new()
            .name("certify-driver-stdin".into())
            .spawn(move || write_lines(stdin, to_write, report))
            .map_err(thread_error)?;
        self.running = Some(Running {
            leader,
            instructions,
            written,
            lines,
            dropped,
        });
        Ok(())
    }

    /// Ends the process group (after a protocol failure, or at shutdown when it does not
    /// exit).
    fn kill(&mut self) {
        self.running = None;
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

    /// Sends one instruction and waits for its answer: writing it and reading the answer
    /// together take at most `timeout`.
    fn exchange_once(&mut self, op: Op, timeout: Duration) -> Result<DriverAnswer, DeviceError> {
        let deadline = Instant::now().checked_add(timeout);
        let remaining = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let id = self.next_id;
        self.next_id += 1;
        let instruction = Instruction { id, op };
        let mut line = serde_json::to_string(&instruction)
            .map_err(|error| DeviceError::Protocol(error.to_string()))?;
        line.push('\n');
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| DeviceError::Protocol("the driver is not running".into()))?;
        refuse_unsolicited(running, id)?;
        if running.instructions.send(line.into_bytes()).is_err() {
            return Err(running.stdin_closed(id, "its stdin is closed"));
        }
        match receive(&running.written, remaining()) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(running.stdin_closed(id, &error)),
            Err(RecvTimeoutError::Timeout) => {
                return Err(DeviceError::Timeout(format!(
                    "the driver did not read instruction {id} from its stdin within {} ms",
                    timeout.as_millis()
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(running.stdin_closed(id, "its stdin is closed"))
            }
        }
        let text = match receive(&running.lines, remaining()) {
            Ok(FromDriver::Line(text)) => text,
            Ok(FromDriver::TooLong { start }) => {
                return Err(DeviceError::Protocol(format!(
                    "the answer to instruction {id} is a line longer than {MAX_ANSWER_BYTES} bytes, beginning {}…",
                    printable(&start, QUOTED_CHARS)
                )))
            }
            Ok(FromDriver::Closed) | Err(RecvTimeoutError::Disconnected) => {
                return Err(running.stdout_closed(id))
            }
            Ok(FromDriver::Failed(error)) => {
                return Err(DeviceError::Protocol(format!(
                    "reading the answer to instruction {id} from the driver's stdout: {error}"
                )))
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(DeviceError::Timeout(format!(
                    "no answer to instruction {id} within {} ms",
                    timeout.as_millis()
                )))
            }
        };
        let answer: DriverAnswer = serde_json::from_str(text.trim()).map_err(|error| {
            DeviceError::Protocol(format!(
                "answer to instruction {id} is not a protocol v1 answer ({}): {}",
                printable(&error.to_string(), QUOTED_CHARS),
                printable(text.trim(), QUOTED_CHARS)
            ))
        })?;
        if answer.id != id {
            return Err(DeviceError::Protocol(format!(
                "answer carries id {} but instruction {id} was sent",
                answer.id
            )));
        }
        Ok(answer.printable())
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
                self.phones = answer.phones;
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

/// `recv_timeout`, or `recv` when the deadline is beyond what an `Instant` holds.
fn receive<T>(receiver: &Receiver<T>, timeout: Option<Duration>) -> Result<T, RecvTimeoutError> {
    match timeout {
        Some(timeout) => receiver.recv_timeout(timeout),
        None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

/// Lines the driver wrote while no instruction was waiting for an answer break the protocol
/// (one answer per instruction): the instruction about to be sent fails with their number and
/// the first of them.
fn refuse_unsolicited(running: &Running, id: u64) -> Result<(), DeviceError> {
    let mut first = None;
    let mut count = running.dropped.swap(0, Ordering::Relaxed);
    let mut last_word = None;
    while let Ok(item) = running.lines.try_recv() {
        match item {
            FromDriver::Line(text) => {
                count += 1;
                first.get_or_insert(text);
            }
            other => {
                last_word = Some(other);
                break;
            }
        }
    }
    if count > 0 {
        let first = first
            .map(|text| format!("; the first: {}", printable(&text, QUOTED_CHARS)))
            .unwrap_or_default();
        return Err(DeviceError::Protocol(format!(
            "the driver wrote {count} line{} nobody asked for before instruction {id}{first}",
            if count == 1 { "" } else { "s" }
        )));
    }
    match last_word {
        None => Ok(()),
        Some(FromDriver::TooLong { start }) => Err(DeviceError::Protocol(format!(
            "the driver wrote a line longer than {MAX_ANSWER_BYTES} bytes that nobody asked for before instruction {id}, beginning {}…",
            printable(&start, QUOTED_CHARS)
        ))),
        Some(FromDriver::Failed(error)) => Err(DeviceError::Protocol(format!(
            "reading the driver's stdout: {error}"
        ))),
        Some(FromDriver::Closed | FromDriver::Line(_)) => Err(running.stdout_closed(id)),
    }
}

impl Running {
    /// The driver's stdout is closed: it exited, or it still runs and will never answer.
    fn stdout_closed(&self, id: u64) -> DeviceError {
        match self.leader.wait_exit(Duration::from_millis(200)) {
            Some(status) => DeviceError::Exited(format!(
                "the driver exited ({status}) before answering instruction {id}"
            )),
            None => DeviceError::Protocol(format!(
                "the driver closed its stdout before answering instruction {id} (it still runs)"
            )),
        }
    }

    /// Instruction `id` could not be written to the driver's stdin.
    fn stdin_closed(&self, id: u64, error: &str) -> DeviceError {
        match self.leader.wait_exit(Duration::from_millis(200)) {
            Some(status) => DeviceError::Exited(format!(
                "the driver exited ({status}) before reading instruction {id}"
            )),
            None => DeviceError::Protocol(format!(
                "instruction {id} cannot be written: the driver closed its stdin (it still runs; {error})"
            )),
        }
    }
}

fn hello_op(hello: &Hello) -> Op {
    Op::Hello {
        protocol: PROTOCOL_NAME.into(),
        version: PROTOCOL_VERSION,
        reader: hello.reader.clone(),
        generic_reader: hello.generic_reader.clone(),
        oqs_url: hello.oqs_url.clone(),
        files_dir: hello.files_dir.clone(),
        facility_code: hello.facility_code.clone(),
    }
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

    fn supports_phones(&self) -> bool {
        self.phones
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
        if let Some(running) = self.running.take() {
            // Closes the driver's stdin once the writer is done; a driver gets a moment to
            // exit by itself after `shutdown`, then its whole group is ended.
            drop(running.instructions);
            running.leader.wait_exit(EXIT_GRACE);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}
