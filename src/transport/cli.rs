//! Command-line entry points of this module (argument structs live here; main.rs only dispatches).
//!
//! `myna-hil card serve` presents the emulated card to pcscd through vpcd, waits for a reader
//! that connects to it (`--listen`), or serves it on a serial line; `myna-hil readers` lists PC/SC readers and their card states.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::card::{Card, CardDescription};
use crate::pki::TestPki;
use crate::trace::{PinRecording, TraceRecorder};
use crate::transport::serve::{
    self, ListenConfig, RunningServer, SerialConfig, ServeOptions, VpcdConfig, DEFAULT_BAUD,
    DEFAULT_VPCD_ADDRESS,
};

/// The longest `--resync-idle-ms`: the serial loop looks for a stop request between reads, so
/// this bounds how long SIGTERM takes.
pub(crate) const MAX_RESYNC_IDLE_MS: u64 = 1000;

/// The `card serve` command's options: the card, how to present it (vpcd, listen, serial) and the
/// transcript to record.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "While serving: SIGUSR1 removes the card, SIGUSR2 inserts it again (its PIN counters and files \
are kept), Ctrl-C or SIGTERM stops cleanly.\n\nExample: myna-hil card serve --card fixtures/cards/standard.yaml, then \
`opensc-tool -n` and `pkcs15-tool -D` in another terminal.\n\nCard and phone (the face reader's card slot and the \
generic reader, docs/field.md): myna-hil card serve --card fixtures/cards/standard.yaml --phone \
fixtures/cards/standard_phone_android.yaml serves the card in \"Virtual PCD 00 00\" and the phone in \"Virtual PCD 00 01\"."
)]
pub(crate) struct ServeArgs {
    /// Card description (YAML: person + card).
    #[arg(long, value_name = "FILE")]
    pub(crate) card: PathBuf,
    /// vpcd to connect to (the card is vpcd's client; 35963 is the slot "Virtual PCD 00 00", 35964 "… 00 01").
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_VPCD_ADDRESS, conflicts_with_all = ["serial", "listen"])]
    pub(crate) vpcd: String,
    /// Wait for the reader instead (vsmartcard's reversed mode): a vpcd whose reader.conf
    /// DEVICENAME is this HOST:PORT, or the Android Smart Card Emulator's remote mode, connects
    /// to the card. Each connection presents the card, closing it removes it. Port 0 picks a
    /// free port (printed). Loopback only unless --allow-remote; see docs/field.md.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "serial")]
    pub(crate) listen: Option<String>,
    /// With --listen: allow an address other than loopback. Whoever reaches the port gets the
    /// card; every reader that connects is printed.
    #[arg(long, requires = "listen")]
    pub(crate) allow_remote: bool,
    /// With --listen: do not serve the placeholder card on PORT+1 (Debian's vpcd, connecting
    /// out to both of its slots, makes pcscd abort without it; the phone does not need it).
    #[arg(long, requires = "listen")]
    pub(crate) single_slot: bool,
    /// Also serve this card file in vpcd's next slot (PORT+1: "Virtual PCD 00 01", the clinic's
    /// generic reader) while the card stays in PORT: typically a phone token (profile
    /// `smartphone` or `smartphone_ios`). The signals and `--record` concern the card only.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["serial", "listen"])]
    pub(crate) phone: Option<PathBuf>,
    /// Serve on a serial line instead (a hardware card-emulation front end), same framing.
    #[arg(long, value_name = "DEV")]
    pub(crate) serial: Option<String>,
    /// Serial line speed.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BAUD, requires = "serial")]
    pub(crate) baud: u32,
    /// Serial line silence (ms) after which a half frame or garbage is dropped, 1 to 1000:
    /// 0 would drop every frame split across two reads, and the line is checked for a stop
    /// request only this often.
    #[arg(long, value_name = "MS", default_value_t = 100, requires = "serial",
          value_parser = clap::value_parser!(u64).range(1..=MAX_RESYNC_IDLE_MS))]
    pub(crate) resync_idle_ms: u64,
    /// Write the APDU transcript (JSON lines, PINs redacted) to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Keep PINs in the transcript instead of redacting them.
    #[arg(long, requires = "record")]
    pub(crate) record_pins: bool,
    /// Answer at once instead of waiting the processing time the card profile specifies.
    #[arg(long)]
    pub(crate) no_latency: bool,
    /// Do not answer myna-hil's identification probe (the card then counts as a real one for
    /// `--reader pcsc` runs).
    #[arg(long)]
    pub(crate) no_identification: bool,
    /// Start with the card out of the reader (insert it with SIGUSR2).
    #[arg(long)]
    pub(crate) removed: bool,
}

/// The `card compare` command's options: the real card's reader and the card file to compare it
/// with.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "The probe only reads: SELECTs, READ BINARY / READ RECORD, GET DATA, retry counters by \
VERIFY without data, and error paths that change nothing. It never sends a PIN, a signature, a write or a \
PIN change. Personal data (certificates, the 4 attributes, the 個人番号, the photo) is compared by structure \
and length only, never printed or saved.\n\nExit codes: 0 no difference, 1 differences, 2 bad input or no card."
)]
pub(crate) struct CompareArgs {
    /// The real card's reader: `pcsc:NAME` (an exact reader name or a part of exactly one).
    #[arg(long, value_name = "pcsc:NAME")]
    pub(crate) reader: String,
    /// The card description to compare with (YAML: person + card).
    #[arg(long, value_name = "FILE")]
    pub(crate) card: PathBuf,
    /// Write the comparison as JSON here (status words, lengths, structure; no card content).
    #[arg(long, value_name = "OUT")]
    pub(crate) json: Option<PathBuf>,
    /// Write what differs as a card description overlay: the ATR and the card options that
    /// explain a difference; file sizes and other status words as comments.
    #[arg(long, value_name = "OUT.yaml")]
    pub(crate) save_profile: Option<PathBuf>,
}

/// The `readers` command's options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReadersArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Why a `card` or `readers` command could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CardCliError {
    /// The card file cannot be read or built.
    #[error("{0}")]
    Card(String),
    /// The card cannot be served.
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    /// The transcript cannot be written.
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
    /// The real reader failed.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// Ctrl-C and SIGTERM cannot be handled.
    #[error("signal handling: {0}")]
    Signals(std::io::Error),
    /// This build lacks what the command needs (e.g. the `pcsc` feature).
    #[cfg(not(feature = "pcsc"))]
    #[error("{0}")]
    Unsupported(&'static str),
    /// The options contradict each other.
    #[error("{0}")]
    Usage(String),
    /// The real card cannot be compared.
    #[error(transparent)]
    Compare(#[from] crate::transport::compare::CompareError),
    /// A report or the aid list cannot be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file concerned.
        path: PathBuf,
        /// Why writing failed.
        source: std::io::Error,
    },
}

/// Today in Japan (JST, UTC+9, no daylight saving): the serving day relative card dates count
/// from, so a served card's certificates are issued for the day a terminal there sees.
fn serving_day() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

/// Loads the card and issues its certificates now, with relative dates counted from today.
fn load_card(path: &std::path::Path) -> Result<Card, CardCliError> {
    let description = CardDescription::from_yaml_file(path)
        .map_err(|error| CardCliError::Card(error.to_string()))?
        .on_day(serving_day());
    let pki = TestPki::load()
        .map_err(|error| CardCliError::Card(format!("{}: {error}", path.display())))?;
    Card::from_description(&description, pki)
        .map_err(|error| CardCliError::Card(format!("{}: {error}", path.display())))
}

/// Serves the emulated card (vpcd, listen or serial) until Ctrl-C or SIGTERM.
pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode, CardCliError> {
    let card = load_card(&args.card)?;
    // The phone is checked before anything is served, so a bad file serves nothing.
    let phone = match &args.phone {
        Some(path) => Some((load_card(path)?, next_slot_address(&args.vpcd)?)),
        None => None,
    };
    let transport = match (&args.serial, &args.listen) {
        (Some(device), _) => format!("serial:{device}@{}", args.baud),
        (None, Some(address)) => format!("listen:{address}"),
        (None, None) => format!("vpcd:{}", args.vpcd),
    };
    let recorder = match &args.record {
        Some(path) => {
            let pins = if args.record_pins {
                PinRecording::Kept
            } else {
                PinRecording::Redacted
            };
            // The card by its absolute path, so that `replay TRACE` finds it from anywhere.
            let card = std::fs::canonicalize(&args.card).unwrap_or_else(|_| args.card.clone());
            Some(
                TraceRecorder::create(path, &transport, Some(&card.display().to_string()), pins)?
                    .into(),
            )
        }
        None => None,
    };
    let options = ServeOptions {
        apply_latency: !args.no_latency,
        answer_identification: !args.no_identification,
        start_removed: args.removed,
        sink: recorder,
    };
    let mut place = transport.clone();
    let server = match (&args.serial, &args.listen) {
        (Some(device), _) => {
            let mut config = SerialConfig::new(device.clone());
            config.baud = args.baud;
            config.resync_idle = Duration::from_millis(args.resync_idle_ms);
            serve::spawn_serial(card, config, options)?
        }
        (None, Some(address)) => {
            let config = ListenConfig {
                allow_remote: args.allow_remote,
                second_slot: !args.single_slot,
                on_peer: Some(Arc::new(|peer| eprintln!("reader connected from {peer}"))),
                ..ListenConfig::new(address.clone())
            };
            let (server, listening) = serve::spawn_listen(card, config, options)?;
            place = match listening.second_slot {
                Some(second) => format!(
                    "listen:{} (placeholder card on {second} for vpcd's second slot)",
                    listening.card
                ),
                None => format!("listen:{}", listening.card),
            };
            if !listening.card.ip().is_loopback() {
                eprintln!(
                    "WARNING: listening on {}, not loopback: whoever reaches this port gets the card",
                    listening.card
                );
            }
            server
        }
        (None, None) => serve::spawn_vpcd(card, VpcdConfig::new(args.vpcd.clone()), options)?,
    };
    let phone = match phone {
        Some((phone, address)) => Some(spawn_phone(phone, address, &args)?),
        None => None,
    };
    eprintln!(
        "serving {} on {place} (pid {}): SIGUSR1 removes the card, SIGUSR2 inserts it, Ctrl-C stops",
        args.card.display(),
        std::process::id()
    );
    if let (Some(path), Some((_, address))) = (&args.phone, &phone) {
        eprintln!(
            "serving the phone {} on vpcd:{address} (vpcd's second slot, \"Virtual PCD 00 01\")",
            path.display()
        );
    }
    let driven = drive_with_signals(&server);
    if let Some((phone, _)) = phone {
        phone.handle().shutdown();
        phone.join()?;
    }
    driven?;
    server.join()?;
    Ok(ExitCode::SUCCESS)
}

/// vpcd's next slot after `address` (`HOST:PORT` → `HOST:PORT+1`): Debian's vpcd listens on
/// PORT for "Virtual PCD 00 00" and on PORT+1 for "… 00 01".
fn next_slot_address(address: &str) -> Result<String, CardCliError> {
    let port = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    match port {
        Some((host, port)) => match port.checked_add(1) {
            Some(next) => Ok(format!("{host}:{next}")),
            None => Err(CardCliError::Usage(format!(
                "--vpcd {address}: the phone's slot would be port 65536"
            ))),
        },
        None => Err(CardCliError::Usage(format!(
            "--vpcd {address}: not HOST:PORT, so the phone's slot (PORT+1) is unknown"
        ))),
    }
}

/// Serves the phone token at `address` (vpcd's slot after the card's); the server and its
/// address.
fn spawn_phone(
    phone: Card,
    address: String,
    args: &ServeArgs,
) -> Result<(RunningServer<Card>, String), CardCliError> {
    let options = ServeOptions {
        apply_latency: !args.no_latency,
        answer_identification: !args.no_identification,
        start_removed: false,
        sink: None,
    };
    let server = serve::spawn_vpcd(phone, VpcdConfig::new(address.clone()), options)?;
    Ok((server, address))
}

/// Turns signals into slot events until a stop signal arrives or the server ends by itself.
fn drive_with_signals<C>(server: &RunningServer<C>) -> Result<(), CardCliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CardCliError::Signals)?;
    let handle = server.handle().clone();
    runtime.block_on(async move {
        let mut remove = signal(SignalKind::user_defined1()).map_err(CardCliError::Signals)?;
        let mut insert = signal(SignalKind::user_defined2()).map_err(CardCliError::Signals)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(CardCliError::Signals)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(CardCliError::Signals)?;
        let mut watchdog = tokio::time::interval(Duration::from_millis(200));
        loop {
            // Biased, in this order: with both signals pending at one wake-up, a fair select
            // would pick at random, and `kill -USR1; kill -USR2` left the card removed half the
            // time. The kernel itself delivers pending standard signals lowest number first
            // (USR1 before USR2), so this order is the order they can be told apart in.
            tokio::select! {
                biased;
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = remove.recv() => {
                    eprintln!("card removed");
                    handle.remove();
                }
                _ = insert.recv() => {
                    eprintln!("card inserted");
                    handle.insert();
                }
                _ = watchdog.tick() => {
                    if handle.status().stopped {
                        return Ok(());
                    }
                }
            }
        }
        eprintln!("stopping");
        handle.shutdown();
        Ok(())
    })
}

/// Lists the PC/SC readers and the state of their cards.
pub(crate) fn readers(args: ReadersArgs) -> Result<ExitCode, CardCliError> {
    #[cfg(feature = "pcsc")]
    {
        let readers = crate::transport::pcsc::list_readers()?;
        if args.json {
            let text = serde_json::to_string_pretty(&readers)
                .map_err(|error| CardCliError::Card(error.to_string()))?;
            println!("{text}");
        } else if readers.is_empty() {
            println!("no PC/SC reader (pcscd runs but sees none)");
        } else {
            let width = readers
                .iter()
                .map(|reader| reader.name.len())
                .max()
                .unwrap_or(0);
            for reader in &readers {
                println!(
                    "{:<width$}  {:<22}  {}",
                    reader.name,
                    reader.state.to_string(),
                    reader.atr.as_deref().unwrap_or("-")
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "pcsc"))]
    {
        let _ = args;
        Err(CardCliError::Unsupported(
            "this build has no PC/SC support: rebuild with `--features pcsc` (needs libpcsclite-dev and pkg-config)",
        ))
    }
}

/// `myna-hil card aids`: the `aid-group` for the Android Smart Card Emulator's
/// `res/xml/aid_list.xml`, one `aid-filter` per AID the card answers (docs/field.md).
pub(crate) fn android_aid_group() -> String {
    let mut xml = String::from(
        "<aid-group android:description=\"@string/app_name\" android:category=\"other\">\n",
    );
    for (name, aid) in crate::apdu::SELECTABLE_AIDS {
        xml.push_str(&format!(
            "    <aid-filter android:name=\"{}\"/> <!-- {name} -->\n",
            hex::encode_upper(aid)
        ));
    }
    xml.push_str("</aid-group>\n");
    xml
}

/// Prints the Android HCE aid-group (aid_list.xml) with every AID the card answers.
pub(crate) fn aids() -> ExitCode {
    print!("{}", android_aid_group());
    ExitCode::SUCCESS
}

/// `myna-hil card compare`: the read-only probe on the real card in `--reader` and on the
/// emulated card of `--card`; exit 0 without differences, 1 with.
pub(crate) fn compare(args: CompareArgs) -> Result<ExitCode, CardCliError> {
    let Some(name) = args
        .reader
        .strip_prefix("pcsc:")
        .filter(|name| !name.is_empty())
    else {
        return Err(CardCliError::Usage(format!(
            "--reader {}: expected pcsc:NAME (the reader holding the real card; `myna-hil readers` lists them)",
            args.reader
        )));
    };
    let card = load_card(&args.card)?;
    #[cfg(feature = "pcsc")]
    {
        use crate::transport::identify::RealCardPolicy;
        // The guard that protects real cards stays on: the probe never needs it lifted.
        let mut real =
            crate::transport::pcsc::PcscTransport::open(Some(name), RealCardPolicy::Refuse)?;
        let mut emulated = crate::transport::virtual_reader::VirtualReader::with_card(card);
        let comparison = crate::transport::compare::compare(
            &mut real,
            &mut emulated,
            &args.card.display().to_string(),
        )?;
        print!("{}", comparison.render());
        if let Some(path) = &args.json {
            let text = serde_json::to_string_pretty(&comparison)
                .map_err(|error| CardCliError::Card(error.to_string()))?;
            std::fs::write(path, text + "\n").map_err(|source| CardCliError::Write {
                path: path.clone(),
                source,
            })?;
        }
        if let Some(path) = &args.save_profile {
            std::fs::write(path, comparison.profile_overlay()).map_err(|source| {
                CardCliError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(if comparison.differences == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
    #[cfg(not(feature = "pcsc"))]
    {
        let _ = (name, card);
        Err(CardCliError::Unsupported(
            "this build has no PC/SC support: rebuild with `--features pcsc` (needs libpcsclite-dev and pkg-config)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phone_goes_to_the_port_after_the_cards() {
        assert_eq!(
            next_slot_address("127.0.0.1:35963").unwrap(),
            "127.0.0.1:35964"
        );
        assert_eq!(next_slot_address("[::1]:35963").unwrap(), "[::1]:35964");
        assert_eq!(next_slot_address("winhost:7000").unwrap(), "winhost:7001");
        for bad in ["127.0.0.1:65535", "127.0.0.1", "127.0.0.1:port"] {
            let error = next_slot_address(bad).unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }
}
