//! Shared helpers for the end-to-end tests that use real components (pcscd + vpcd, socat).
//!
//! Missing components are failures with the Debian package to install, never skips. The one
//! skip is a pcscd the tests did not start (a system one, often socket-activated): tests that
//! need a pcscd of their own skip with the reason printed (see [`skip`]), and such a pcscd is
//! never stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) mod card;
pub(crate) mod oqs;

pub(crate) const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";
pub(crate) const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
pub(crate) const VPCD_CONFIG: &str = "/etc/reader.conf.d/vpcd";
/// vpcd's first slot, and the name pcscd gives it.
pub(crate) const VPCD_PORT: u16 = 35963;
pub(crate) const VPCD_ADDRESS: &str = "127.0.0.1:35963";
pub(crate) const VPCD_READER: &str = "Virtual PCD 00 00";
/// Where a pcscd started by the tests writes its errors (OpenSC's feature queries make vpcd log
/// harmless "Card not transacted" lines, which would drown the test output).
pub(crate) const PCSCD_TEST_LOG: &str = "/tmp/myna-hil-pcscd-tests.log";
pub(crate) const OPENSC_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// A date written `YYYY-MM-DD` in a test.
pub(crate) fn date(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}

/// The standard card every end-to-end test serves.
pub(crate) fn standard_card_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cards/standard.yaml")
}

/// Panics with the package to install when `program` is not on PATH (or at an absolute path).
pub(crate) fn require_program(program: &str, package: &str) -> PathBuf {
    let found = if program.contains('/') {
        Path::new(program).exists().then(|| PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.exists())
        })
    };
    found.unwrap_or_else(|| {
        panic!("`{program}` not found: install the Debian package `{package}` (apt-get install {package})")
    })
}

/// One pcscd per machine: every test that uses it holds this lock, across threads of one test
/// binary and across test binaries run in parallel. The lock is an abstract Unix socket name,
/// which the kernel releases when its holder exits, however it exits. A thread that holds it
/// may take it again (the test of a foreign pcscd runs other tests' bodies while holding it).
pub(crate) struct PcscdLock {
    /// `None` for a nested hold: the outer one releases the lock.
    _listener: Option<UnixListener>,
}

thread_local! {
    /// How many holds of the pcscd lock this thread has.
    static PCSCD_LOCK_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Drop for PcscdLock {
    fn drop(&mut self) {
        PCSCD_LOCK_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

pub(crate) fn lock_pcscd() -> PcscdLock {
    if PCSCD_LOCK_DEPTH.with(|depth| depth.get()) > 0 {
        PCSCD_LOCK_DEPTH.with(|depth| depth.set(depth.get() + 1));
        return PcscdLock { _listener: None };
    }
    let name =
        SocketAddr::from_abstract_name(b"myna-hil-pcscd-tests").expect("abstract socket name");
    loop {
        match UnixListener::bind_addr(&name) {
            Ok(listener) => {
                PCSCD_LOCK_DEPTH.with(|depth| depth.set(1));
                return PcscdLock {
                    _listener: Some(listener),
                };
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(error) => panic!("taking the pcscd test lock: {error}"),
        }
    }
}

/// Where skipped tests are listed, one `test: reason` a line, for the summary `scripts/test`
/// prints at its end (it empties the file first).
pub(crate) const SKIP_LOG: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt");

/// The skips of this process, for the test that checks them.
pub(crate) static SKIPPED: std::sync::Mutex<Vec<(String, String)>> =
    std::sync::Mutex::new(Vec::new());

thread_local! {
    /// Set while the foreign-pcscd test runs other tests' bodies on purpose: their skips are
    /// checked there, not listed in the summary as skips of the run.
    pub(crate) static REHEARSING_SKIPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Skips the calling test (it returns right after): the reason goes to stderr past the test
/// harness's capture, so it is printed even for a passing test, and into [`SKIP_LOG`].
pub(crate) fn skip(reason: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let line = format!("SKIPPED {test}: {reason}\n");
    // Written to the handle, not with eprint!, which the harness captures.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if !REHEARSING_SKIPS.with(std::cell::Cell::get) {
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(SKIP_LOG)
        {
            let _ = log.write_all(format!("{test}: {reason}\n").as_bytes());
        }
    }
    SKIPPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((test, reason.to_owned()));
}

/// Why a test that must start pcscd itself cannot: a pcscd the tests did not start answers
/// (they start theirs only while holding the lock, and stop it before they release it).
const FOREIGN_PCSCD: &str = "a pcscd not started by the tests is running (a system one, e.g. \
     socket-activated by systemd); it is never stopped, and a second pcscd would need its own \
     mount namespace (Debian's pcscd fixes its socket at /run/pcscd/pcscd.comm)";

/// `true` (and the test skipped with `why`) when a foreign pcscd runs. Call with the lock held.
fn skipped_for_a_foreign_pcscd(why: &str) -> bool {
    if !pcscd_answers() {
        return false;
    }
    skip(&format!("{why}; {FOREIGN_PCSCD}"));
    true
}

/// pcscd for the duration of a test: the one already running (CI or the system started it),
/// or one started here and stopped on drop. `None` when the test is skipped: a pcscd not
/// started by the tests runs without the vpcd reader, which only its owner can add.
pub(crate) struct Pcscd {
    started: Option<Child>,
    /// The reader.conf folder of a pcscd started with `-c` (kept until it stops).
    _config: Option<tempfile::TempDir>,
    _lock: PcscdLock,
}

fn spawn_pcscd(program: &Path) -> Child {
    let log = File::create(PCSCD_TEST_LOG).expect("creating the pcscd log");
    Command::new(program)
        .args(["--foreground", "--error"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting pcscd --foreground --error")
}

pub(crate) fn pcscd_answers() -> bool {
    UnixStream::connect(PCSCD_SOCKET).is_ok()
}

/// Whether something listens on `port` (read from /proc so that probing does not itself look
/// like a card connecting to vpcd).
pub(crate) fn tcp_port_listening(port: u16) -> bool {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        let Ok(file) = File::open(table) else {
            return false;
        };
        BufReader::new(file)
            .lines()
            .skip(1)
            .map_while(Result::ok)
            .any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields
                    .get(1)
                    .and_then(|local| local.rsplit(':').next())
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok());
                local_port == Some(port) && fields.get(3) == Some(&"0A")
            })
    })
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Pcscd {
    pub(crate) fn ensure() -> Option<Pcscd> {
        Pcscd::ensure_with(lock_pcscd())
    }

    fn ensure_with(lock: PcscdLock) -> Option<Pcscd> {
        let pcscd = require_program("pcscd", "pcscd");
        assert!(
            Path::new(VPCD_DRIVER).exists() && Path::new(VPCD_CONFIG).exists(),
            "vpcd driver missing ({VPCD_DRIVER}, {VPCD_CONFIG}): install the Debian package `vsmartcard-vpcd`"
        );
        if pcscd_answers() {
            // Someone else's pcscd: usable when it loaded vpcd (a socket-activated one starts
            // on the connection above and opens vpcd's port shortly after).
            let deadline = Instant::now() + Duration::from_secs(10);
            while !tcp_port_listening(VPCD_PORT) {
                if Instant::now() > deadline {
                    skip(&format!(
                        "{FOREIGN_PCSCD}, and it has no vpcd reader (port {VPCD_PORT} is not \
                         listening): it was started before vsmartcard-vpcd was installed; its \
                         owner can restart it (systemctl restart pcscd)"
                    ));
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            return Some(Pcscd {
                started: None,
                _config: None,
                _lock: lock,
            });
        }
        let mut pcscd = Pcscd {
            started: Some(spawn_pcscd(&pcscd)),
            _config: None,
            _lock: lock,
        };
        pcscd.wait_ready();
        Some(pcscd)
    }

    /// [`Pcscd::ensure`] for a test that must start (and restart) pcscd itself: `None`, the
    /// test skipped with `why`, when a pcscd the tests did not start runs.
    pub(crate) fn own(why: &str) -> Option<Pcscd> {
        let lock = lock_pcscd();
        if skipped_for_a_foreign_pcscd(why) {
            return None;
        }
        Pcscd::ensure_with(lock)
    }

    /// pcscd started here with a reader.conf folder of its own (`pcscd -c DIR`) whose vpcd
    /// reader connects out to a card listening at `card` (DEVICENAME `HOST:PORT`, vsmartcard's
    /// reversed mode); Debian's vpcd also connects to PORT+1. The card must already listen on
    /// both. Waits until pcscd lists the card in `Virtual PCD 00 00`. With a pcscd already
    /// running (not ours) the test is skipped (`None`): that one is never stopped, and there
    /// can be only one.
    pub(crate) fn connecting_out(card: std::net::SocketAddr) -> Option<Pcscd> {
        Pcscd::connecting_out_with(lock_pcscd(), card)
    }

    /// [`Pcscd::connecting_out`] with the lock already held: a test that starts a listening
    /// process which waits for pcscd takes the lock before it starts that process, so that
    /// waiting for the lock does not eat into the process's own timeouts.
    pub(crate) fn connecting_out_with(
        lock: PcscdLock,
        card: std::net::SocketAddr,
    ) -> Option<Pcscd> {
        let program = require_program("pcscd", "pcscd");
        require_program("opensc-tool", "opensc");
        assert!(
            Path::new(VPCD_DRIVER).exists(),
            "vpcd driver missing ({VPCD_DRIVER}): install the Debian package `vsmartcard-vpcd`"
        );
        if skipped_for_a_foreign_pcscd(
            "this test needs a pcscd of its own whose vpcd reader connects out to the card \
             (pcscd -c DIR)",
        ) {
            return None;
        }
        // pcscd parses every file in the folder, so the log lives elsewhere.
        let config = tempfile::tempdir().expect("reader.conf folder");
        std::fs::write(
            config.path().join("vpcd-connect-out"),
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME   {card}\nLIBPATH      {VPCD_DRIVER}\nCHANNELID    {:#06X}\n",
                card.port()
            ),
        )
        .expect("writing reader.conf");
        let log = File::create(PCSCD_TEST_LOG).expect("creating the pcscd log");
        let child = Command::new(program)
            .args(["--foreground", "--error", "-c"])
            .arg(config.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting pcscd -c DIR");
        let mut pcscd = Pcscd {
            started: Some(child),
            _config: Some(config),
            _lock: lock,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(pcscd_answers() && opensc_sees_card(VPCD_READER)) {
            if let Some(child) = pcscd.started.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "pcscd -c exited at start ({status}): {}",
                        std::fs::read_to_string(PCSCD_TEST_LOG).unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "pcscd connecting out to {card} did not list the card: {}",
                std::fs::read_to_string(PCSCD_TEST_LOG).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(pcscd)
    }

    /// Whether the pcscd started here is still running (Debian's vpcd makes it abort when a
    /// connect-out link fails).
    pub(crate) fn alive(&mut self) -> bool {
        self.started
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if pcscd_answers() && tcp_port_listening(VPCD_PORT) {
                return;
            }
            if let Some(child) = self.started.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("pcscd exited at start ({status}); see {PCSCD_TEST_LOG}. Is another pcscd running in another mount namespace?");
                }
            }
            assert!(
                Instant::now() < deadline,
                "pcscd did not come up: {PCSCD_SOCKET} answering = {}, vpcd port {VPCD_PORT} listening = {} \
                 (vpcd comes from the Debian package `vsmartcard-vpcd`)",
                pcscd_answers(),
                tcp_port_listening(VPCD_PORT)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// pcscd started here with its APDU log (`--foreground --debug --apdu`, stdout and stderr)
    /// written to `log`, as a field engineer captures one. With a pcscd already running (not
    /// ours) the test is skipped (`None`): its log cannot be captured.
    pub(crate) fn with_apdu_log(log: &Path) -> Option<Pcscd> {
        let lock = lock_pcscd();
        let program = require_program("pcscd", "pcscd");
        if skipped_for_a_foreign_pcscd(
            "this test captures the APDU log of a pcscd it starts (pcscd --debug --apdu)",
        ) {
            return None;
        }
        let out = File::create(log).expect("creating the pcscd APDU log");
        let err = out.try_clone().expect("sharing the pcscd APDU log");
        let child = Command::new(program)
            .args(["--foreground", "--debug", "--apdu"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting pcscd --foreground --debug --apdu");
        let mut pcscd = Pcscd {
            started: Some(child),
            _config: None,
            _lock: lock,
        };
        pcscd.wait_ready();
        Some(pcscd)
    }

    /// Stops and starts pcscd again (only when this test started it): for reconnection tests.
    pub(crate) fn restart(&mut self) {
        let child = self
            .started
            .as_mut()
            .expect("restart() needs a pcscd started by the test itself");
        terminate(child);
        let pcscd = require_program("pcscd", "pcscd");
        self.started = Some(spawn_pcscd(&pcscd));
        self.wait_ready();
    }

    pub(crate) fn started_here(&self) -> bool {
        self.started.is_some()
    }
}

pub(crate) fn terminate(child: &mut Child) {
    // SIGTERM lets pcscd remove its socket and pid file; SIGKILL only as a last resort.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(child) = self.started.as_mut() {
            terminate(child);
        }
    }
}

/// The `myna-hil` binary under test, in the checkout (relative paths in arguments resolve there),
/// with colour off.
pub(crate) fn myna_hil() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_myna-hil"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    command
}

/// Runs `myna-hil ARGS` to its end.
pub(crate) fn run_myna_hil<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    myna_hil().args(args).output().expect("the binary runs")
}

/// Runs a command, returns (success, stdout, stderr) as text.
pub(crate) fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("running {program}: {error}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A socat pty pair; both ends are symlinks in a temporary directory.
pub(crate) struct PtyPair {
    child: Child,
    pub card_end: PathBuf,
    pub front_end: PathBuf,
    _dir: tempfile::TempDir,
}

impl PtyPair {
    pub(crate) fn new() -> PtyPair {
        let socat = require_program("socat", "socat");
        let dir = tempfile::tempdir().expect("temporary directory");
        let card_end = dir.path().join("card");
        let front_end = dir.path().join("front");
        let child = Command::new(socat)
            .arg(format!("pty,raw,echo=0,link={}", card_end.display()))
            .arg(format!("pty,raw,echo=0,link={}", front_end.display()))
            .stdin(Stdio::null())
            .spawn()
            .expect("starting socat");
        wait_until("socat's pty links", Duration::from_secs(5), || {
            card_end.exists() && front_end.exists()
        });
        PtyPair {
            child,
            card_end,
            front_end,
            _dir: dir,
        }
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Builds a card from a fixture description (the same way `myna-hil card serve` does).
pub(crate) fn load_card(path: &Path) -> myna_hil::card::Card {
    let description = myna_hil::card::CardDescription::from_yaml_file(path)
        .unwrap_or_else(|error| panic!("{error}"));
    let pki = myna_hil::pki::TestPki::load().expect("test PKI fixtures");
    myna_hil::card::Card::from_description(&description, pki)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub(crate) fn fixture_card(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cards")
        .join(name)
}

/// Options for tests: no simulated card latency (tests check behaviour, not timing).
pub(crate) fn test_options() -> myna_hil::transport::serve::ServeOptions {
    myna_hil::transport::serve::ServeOptions {
        apply_latency: false,
        ..myna_hil::transport::serve::ServeOptions::standard()
    }
}

pub(crate) fn select_jpki() -> Vec<u8> {
    myna_hil::apdu::parse_hex(card::SELECT_JPKI).expect("test APDU is hex")
}

pub(crate) fn select_ef(fid: [u8; 2]) -> Vec<u8> {
    vec![0x00, 0xA4, 0x02, 0x0C, 0x02, fid[0], fid[1]]
}

pub(crate) fn verify(pin: &[u8]) -> Vec<u8> {
    let mut command = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    command.extend_from_slice(pin);
    command
}

pub(crate) const RETRY_QUERY: [u8; 4] = [0x00, 0x20, 0x00, 0x80];

/// Whether pcscd reports a card in `reader`, asked through OpenSC (`opensc-tool -l`) so that
/// tests without the `pcsc` feature can use it too.
pub(crate) fn opensc_sees_card(reader: &str) -> bool {
    let (_, stdout, _) = run("opensc-tool", &["-l"]);
    stdout
        .lines()
        .any(|line| line.ends_with(reader) && line.split_whitespace().nth(1) == Some("Yes"))
}

/// Serves `card` to the running pcscd through vpcd's first slot and waits until pcscd lists it.
pub(crate) fn serve_to_pcscd(
    card: myna_hil::card::Card,
    options: myna_hil::transport::serve::ServeOptions,
) -> myna_hil::transport::serve::RunningServer<myna_hil::card::Card> {
    require_program("opensc-tool", "opensc");
    // A card served by a previous test may still be listed until pcscd's next presence poll.
    wait_until("the vpcd slot to be empty", Duration::from_secs(10), || {
        !opensc_sees_card(VPCD_READER)
    });
    let server = myna_hil::transport::serve::spawn_vpcd(
        card,
        myna_hil::transport::serve::VpcdConfig::new(VPCD_ADDRESS),
        options,
    )
    .expect("serving to vpcd");
    server
        .handle()
        .wait_for(Duration::from_secs(10), |status| status.link_up)
        .expect("connecting to vpcd");
    wait_until("pcscd to see the card", Duration::from_secs(10), || {
        opensc_sees_card(VPCD_READER)
    });
    server
}

/// A free loopback port whose next port is free too (a listening card and its placeholder).
pub(crate) fn free_port_pair() -> u16 {
    for _ in 0..64 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free pair of loopback ports");
}

/// A child process of a test, killed if the test fails before it ends it.
pub(crate) struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
