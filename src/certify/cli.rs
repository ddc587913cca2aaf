//! `myna-hil certify`: arguments, the run, the reports, the exit code.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use super::driver::{Driver, DriverCommand};
use super::dut::DeviceUnderTest;
use super::judge::Status;
use super::operator::Operator;
use super::report::{write_reports, Report, ReportError};
use super::run::{run, RunConfig, RunError};
use super::slot::SlotLink;
use super::suite::{self, SuiteError};
use crate::scenario::schema::DEFAULT_FACILITY_CODE;
use crate::transport::serve::DEFAULT_VPCD_ADDRESS;

/// The `certify` command's options: the suite, the device under test, the cases to run and where
/// reports go.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CertifyArgs {
    /// Certify the harness's own reference reader and terminal (run as a driver process).
    #[arg(long, conflicts_with = "driver")]
    pub(crate) reference: bool,
    /// With --reference: one of the deliberately faulty variants (see --list-faults).
    #[arg(long, value_name = "NAME", requires = "reference")]
    pub(crate) fault: Option<String>,
    /// Drive the device with this command (driver protocol v1 on its stdin/stdout, run
    /// through `sh -c`). Without --driver or --reference a person drives it (interactive).
    #[arg(long, value_name = "CMD")]
    pub(crate) driver: Option<String>,
    /// Serve the emulated card to vpcd at HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_VPCD_ADDRESS, conflicts_with_all = ["serial", "listen"])]
    pub(crate) vpcd: String,
    /// Let the card wait at HOST:PORT (loopback) for a vpcd that connects out to it (reader.conf
    /// DEVICENAME HOST:PORT; a placeholder card takes PORT+1). The card stays linked, so cases
    /// that lift it mid-command cannot run; see docs/field.md.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "serial")]
    pub(crate) listen: Option<String>,
    /// Serve the emulated card over a serial line to a card-emulation front end instead.
    #[arg(long, value_name = "DEV")]
    pub(crate) serial: Option<String>,
    /// Address of the emulated qualification system's HTTP API (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub(crate) oqs_listen: SocketAddr,
    /// Also serve the qualification system's file interface in this folder.
    #[arg(long, value_name = "DIR")]
    pub(crate) files: Option<PathBuf>,
    /// Write report.json, junit.xml and report.html here.
    #[arg(long, value_name = "DIR")]
    pub(crate) report: Option<PathBuf>,
    /// Save each case's card transcript (`myna-hil-trace` v1, PINs redacted) into this
    /// folder (created if missing) as CASE.jsonl, with the card it served as CASE.card.yaml,
    /// so that `myna-hil replay DIR/CASE.jsonl` replays it as it was.
    #[arg(long, value_name = "DIR")]
    pub(crate) record: Option<PathBuf>,
    /// The device's name as it appears in the reports.
    #[arg(long, value_name = "S")]
    pub(crate) device_name: Option<String>,
    /// The conformance suite (requirements.yaml, registry.yaml, cases/). Default: `certify/` in
    /// the current folder when it holds a suite, else the one of the checkout the binary was
    /// built from.
    #[arg(long, value_name = "DIR")]
    pub(crate) suite: Option<PathBuf>,
    /// Run only these cases (ids from the suite's cases/).
    #[arg(long = "case", value_name = "ID", num_args = 1..)]
    pub(crate) cases: Vec<String>,
    /// 医療機関コード the device is told to use.
    #[arg(long, value_name = "CODE", default_value = DEFAULT_FACILITY_CODE)]
    pub(crate) facility_code: String,
    /// No progress display and no summary table (the reports and exit code stay).
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Print the reference device's faults, one per line: NAME<TAB>REQ-ID[,REQ-ID…].
    #[arg(long, exclusive = true)]
    pub(crate) list_faults: bool,
}

/// Why a certification run could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CertifyError {
    /// The conformance suite under `certify/` cannot be loaded.
    #[error(transparent)]
    Suite(#[from] SuiteError),
    /// A case could not be run (world, card slot, qualification system or device failed).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The HTML, JSON or JUnit report cannot be written.
    #[error("reports: {0}")]
    Report(#[from] ReportError),
    /// The options contradict each other or name what does not exist.
    #[error("{0}")]
    Usage(String),
    /// A case's exchanges cannot be recorded under `--record`.
    #[error("--record: {0}")]
    Record(#[from] super::run::RecordError),
    /// Ctrl-C and SIGTERM cannot be handled (they must end the driver's processes).
    #[error("signal handling: {0}")]
    Signals(std::io::Error),
    /// The `--record` folder cannot be used.
    #[error("--record {path}: {message}")]
    RecordFolder {
        /// The folder given to `--record`.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
}

/// Makes sure `--record DIR` can take the recordings before a minute is spent on the run: the
/// folder is created if missing, and must be a folder that can be written to.
fn prepare_record_folder(dir: &std::path::Path) -> Result<(), CertifyError> {
    let refuse = |message: String| CertifyError::RecordFolder {
        path: dir.to_path_buf(),
        message,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(refuse(
            "is a file; --record takes a folder (one trace per case is written into it)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|error| refuse(format!("cannot create it: {error}")))?;
    let probe = dir.join(".myna-hil-record-probe");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|error| refuse(format!("cannot write into it: {error}")))
}

/// The reference device's faults as `(name, requirement ids)`.
pub(crate) fn reference_faults() -> Vec<(&'static str, Vec<&'static str>)> {
    super::device::faults::all_faults()
        .iter()
        .map(|fault| (fault.name, fault.breaks.to_vec()))
        .collect()
}

/// Runs the conformance suite against a device (or the harness's own reference reader) and writes
/// the certification reports; the exit code says whether the device certifies.
pub(crate) fn certify(args: CertifyArgs) -> Result<ExitCode, CertifyError> {
    if args.list_faults {
        for (name, breaks) in reference_faults() {
            println!("{name}\t{}", breaks.join(","));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(fault) = &args.fault {
        if !reference_faults().iter().any(|(name, _)| name == fault) {
            let names: Vec<&str> = reference_faults().iter().map(|(n, _)| *n).collect();
            return Err(CertifyError::Usage(format!(
                "--fault {fault}: no such fault; faults: {}",
                names.join(", ")
            )));
        }
    }
    if args.facility_code.len() != 10 || !args.facility_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CertifyError::Usage(format!(
            "--facility-code {}: a 医療機関コード has 10 digits",
            args.facility_code
        )));
    }
    if let Some(dir) = &args.record {
        prepare_record_folder(dir)?;
    }
    let mut suite = suite::load(&suite::locate(args.suite.as_deref()))?;
    suite.select_cases(&args.cases)?;

    let mut device: Box<dyn DeviceUnderTest> = if args.reference {
        let exe = std::env::current_exe().map_err(|error| {
            CertifyError::Usage(format!(
                "cannot find this program to run the reference device: {error}"
            ))
        })?;
        let mut device_args = vec!["reference-device".to_owned()];
        if let Some(fault) = &args.fault {
            device_args.extend(["--fault".to_owned(), fault.clone()]);
        }
        Box::new(Driver::new(DriverCommand {
            program: exe.display().to_string(),
            display: format!("{} {}", exe.display(), device_args.join(" ")),
            args: device_args,
        }))
    } else if let Some(command) = &args.driver {
        Box::new(Driver::new(DriverCommand::shell(command)))
    } else {
        Box::new(Operator::from_terminal())
    };
    let device_name = args.device_name.clone().unwrap_or_else(|| {
        match (&args.reference, &args.fault, &args.driver) {
            (true, Some(fault), _) => format!("myna-hil reference device (fault {fault})"),
            (true, None, _) => "myna-hil reference device".to_owned(),
            (false, _, Some(command)) => command.clone(),
            (false, _, None) => "device under test".to_owned(),
        }
    });
    let interactive = !args.reference && args.driver.is_none();
    let config = RunConfig {
        link: match (&args.serial, &args.listen) {
            (Some(device), _) => SlotLink::Serial(device.clone()),
            (None, Some(address)) => SlotLink::Listen(address.clone()),
            (None, None) => SlotLink::Vpcd(args.vpcd.clone()),
        },
        oqs_listen: args.oqs_listen,
        files: args.files.clone(),
        facility_code: args.facility_code.clone(),
        // The operator's prompts own the terminal in interactive mode.
        progress: !args.quiet && !interactive && std::io::stderr().is_terminal(),
        today: chrono::Local::now().date_naive(),
        record: args.record.clone(),
    };
    if !interactive {
        // A driver runs in a process group of its own, out of reach of the terminal's Ctrl-C.
        super::process_group::end_groups_on_signals().map_err(CertifyError::Signals)?;
    }
    let mut outcome = run(&suite, &config, device.as_mut())?;
    let report = Report::new(&suite, &outcome, &device_name);
    if let Some(dir) = &args.report {
        write_reports(dir, &report)?;
    }
    if let Some(error) = outcome.fatal.take() {
        return Err(CertifyError::Run(error));
    }
    // The reports stand whatever happened to the recording; the recording's failure is still
    // this command's failure.
    if let Some(error) = outcome.record_error {
        if !args.quiet {
            print_summary(&report);
        }
        return Err(CertifyError::Record(error));
    }
    if !args.quiet {
        print_summary(&report);
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_summary(report: &Report) {
    for requirement in &report.requirements {
        let mark = match requirement.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotExercised => "NOT EXERCISED",
            Status::NotApplicable => "n/a ",
        };
        println!(
            "{mark}  {:<15} {:<6} {}",
            requirement.id,
            requirement.level.name(),
            requirement.title
        );
        if let (Status::NotExercised | Status::NotApplicable, Some(reason)) =
            (requirement.status, &requirement.reason)
        {
            println!("        {reason}");
        }
        if requirement.status == Status::Fail {
            for finding in requirement
                .evidence
                .iter()
                .filter(|f| f.status == Status::Fail)
            {
                println!("        [{}] {}", finding.case, finding.summary);
            }
        }
    }
    println!(
        "\n{}: {} passed, {} failed, {} not exercised, {} not applicable (suite sha256 {})",
        if report.passed() { "PASS" } else { "FAIL" },
        report.summary.pass,
        report.summary.fail,
        report.summary.not_exercised,
        report.summary.not_applicable,
        &report.suite.sha256[..12.min(report.suite.sha256.len())]
    );
}
