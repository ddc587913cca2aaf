//! `myna-hil oqs serve`: the qualification system over HTTP and the XML folder interface.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::oqs::description::RegistryDescription;
use crate::oqs::files::FileInterface;
use crate::oqs::generate::synthetic_registry;
use crate::oqs::http::ServerLimits;
use crate::oqs::load::LoadError;
use crate::oqs::registry::{Registry, RegistryError};
use crate::oqs::service::{Oqs, OqsConfig};

/// The `oqs serve` command's options: the registry, the HTTP address and the XML file-interface
/// folder.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Registry YAML (persons, insurers, qualifications, card links). Default: empty registry.
    #[arg(long, value_name = "FILE", conflicts_with = "synthetic")]
    pub(crate) registry: Option<PathBuf>,
    /// Serve a synthetic registry of N persons instead (deterministic, see --seed); at most
    /// 130,000,000 (national scale).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
        .range(0..=crate::oqs::generate::MAX_SYNTHETIC_PERSONS))]
    pub(crate) synthetic: Option<usize>,
    #[arg(long, default_value_t = 1, requires = "synthetic")]
    pub(crate) seed: u64,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8931")]
    pub(crate) listen: SocketAddr,
    /// Folder for the XML file interface (req / res / face are created inside).
    #[arg(long, value_name = "DIR")]
    pub(crate) files: Option<PathBuf>,
    /// How often `req` is polled, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub(crate) poll_ms: u64,
    /// How long a request file must stay unchanged (size and modification time) before it is
    /// taken, in milliseconds. A writer that may pause longer mid-file should write under a
    /// temporary name (not starting with `OQS`) and rename.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub(crate) settle_ms: u64,
    /// A request's header must arrive within this many milliseconds; also how long a
    /// kept-alive connection may sit idle.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(crate) header_timeout_ms: u64,
    /// A request (body included) must be read and answered within this many milliseconds
    /// (else 408).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub(crate) request_timeout_ms: u64,
    /// A connection is closed after this many milliseconds whatever it does.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub(crate) connection_timeout_ms: u64,
    /// At most this many HTTP connections are served at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub(crate) max_connections: u64,
    /// The terminal's result encoding for res/ and face/ files (requests do not choose it).
    #[arg(long, value_enum, default_value_t = Charset::Utf8)]
    pub(crate) charset: Charset,
    /// Also write face files for refused receptions (by default only successful ones; no
    /// public source shows a refusal face file).
    #[arg(long)]
    pub(crate) face_refusals: bool,
    /// Load testing only: a challenge stays valid after use, so that a load generator can sign
    /// checks in advance (`myna-hil bench --workload check`). Every other verification step
    /// still runs on every request. Shown in `GET /v1/health`.
    #[arg(long)]
    pub(crate) reusable_challenges: bool,
}

/// `--charset`: UTF-8 (CharacterCodeIdentifier 0) or Shift_JIS / CP932 (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Charset {
    #[value(name = "utf8")]
    Utf8,
    #[value(name = "shift_jis")]
    ShiftJis,
}

impl From<Charset> for crate::oqs::codes::CharacterCode {
    fn from(charset: Charset) -> Self {
        match charset {
            Charset::Utf8 => Self::Utf8,
            Charset::ShiftJis => Self::ShiftJis,
        }
    }
}

/// Why `myna-hil oqs serve` could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OqsCliError {
    /// The registry file cannot be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The registry parsed but cannot be built.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The test PKI (key pool and CA) cannot be loaded.
    #[error("test PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// Serving failed on the network or the file system.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (binding an address, watching a folder).
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OqsCliError {
    let what = what.into();
    move |source| OqsCliError::Io { what, source }
}

/// Runs `myna-hil oqs serve`: the HTTP API and the file interface until interrupted.
pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode, OqsCliError> {
    let started = Instant::now();
    let registry = match (&args.registry, args.synthetic) {
        (Some(path), _) => Registry::load(path)?,
        (None, Some(persons)) => synthetic_registry(persons, args.seed)?,
        (None, None) => {
            Registry::from_description("(empty registry)", &RegistryDescription::default())?
        }
    };
    eprintln!(
        "registry: {} persons, {} cards, {} qualifications, built in {:.1} s",
        registry.person_count(),
        registry.card_count(),
        registry.qualification_count(),
        started.elapsed().as_secs_f64()
    );
    let oqs = Arc::new(Oqs::new(
        registry,
        OqsConfig {
            reusable_challenges: args.reusable_challenges,
            ..OqsConfig::default()
        },
    )?);
    if args.reusable_challenges {
        eprintln!("challenges are reusable (load-testing mode; shown in /v1/health)");
    }
    let files = match &args.files {
        Some(dir) => Some(Arc::new(
            FileInterface::new(dir, Arc::clone(&oqs))
                .map_err(io(format!("file interface {}", dir.display())))?
                .with_settle(Duration::from_millis(args.settle_ms))
                .with_charset(args.charset.into())
                .with_face_refusals(args.face_refusals),
        )),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("tokio runtime"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(io(format!("listen on {}", args.listen)))?;
        let address = listener.local_addr().map_err(io("local address"))?;
        // The first stdout line tells scripts (and tests using port 0) where to connect. A
        // closed stdout must not stop the server, hence no println!.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on http://{address}");
        if let Some(files) = &files {
            let _ = writeln!(stdout, "files: {}", files.root().display());
            tokio::spawn(Arc::clone(files).watch(Duration::from_millis(args.poll_ms.max(10))));
        }
        let _ = stdout.flush();
        drop(stdout);
        let api = crate::oqs::http::Api::new(oqs, files);
        let limits = ServerLimits {
            header_read: Duration::from_millis(args.header_timeout_ms),
            request: Duration::from_millis(args.request_timeout_ms),
            connection: Duration::from_millis(args.connection_timeout_ms),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        };
        crate::oqs::http::serve(listener, api, limits, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok::<(), OqsCliError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
