//! The qualification system's test material: request files in the public layout
//! (docs/spec/oqs-xml.md §2) and a real `myna-hil oqs serve` process.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const REGISTRY: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/registry/clinic.yaml");

/// A 被保険者証 lookup answered 有効 from the clinic registry (hanako's new insurer, on a day
/// it is registered).
pub(crate) const LOOKUP: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20250406</QualificationConfirmationDate>
    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>ID</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <InsurerNumber>06139999</InsurerNumber>
      <InsuredCardSymbol>7</InsuredCardSymbol>
      <InsuredIdentificationNumber>5501</InsuredIdentificationNumber>
      <InsuredBranchNumber>00</InsuredBranchNumber>
      <Birthdate>19900820</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
    </QualificationConfirmSearchInfo>
  </MessageBody>
</XmlMsg>
"#;

/// The keys of one 被保険者証 query.
pub(crate) struct Query<'a> {
    pub insurer: &'a str,
    pub symbol: Option<&'a str>,
    pub number: &'a str,
    pub branch: Option<&'a str>,
    pub birthdate: &'a str,
}

/// `<QualificationConfirmSearchInfo>` for `query`.
pub(crate) fn search_info(query: &Query<'_>) -> String {
    let optional = |name: &str, value: Option<&str>| {
        value.map_or(String::new(), |v| format!("\n      <{name}>{v}</{name}>"))
    };
    format!(
        "    <QualificationConfirmSearchInfo>\n      <InsurerNumber>{}</InsurerNumber>{}\n      <InsuredIdentificationNumber>{}</InsuredIdentificationNumber>{}\n      <Birthdate>{}</Birthdate>\n      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>\n    </QualificationConfirmSearchInfo>\n",
        query.insurer,
        optional("InsuredCardSymbol", query.symbol),
        query.number,
        optional("InsuredBranchNumber", query.branch),
        query.birthdate,
    )
}

/// A request file: the public header (date, 医療機関コード, optional identifier) and `body`.
pub(crate) fn request(date: &str, identifier: Option<&str>, body: &str) -> String {
    let identifier = identifier.map_or(String::new(), |id| {
        format!("    <ArbitraryFileIdentifier>{id}</ArbitraryFileIdentifier>\n")
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<XmlMsg>\n  <MessageHeader>\n    <QualificationConfirmationDate>{date}</QualificationConfirmationDate>\n    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>\n{identifier}  </MessageHeader>\n  <MessageBody>\n{body}  </MessageBody>\n</XmlMsg>\n"
    )
}

/// A single 被保険者証 lookup request.
pub(crate) fn lookup_request(date: &str, identifier: Option<&str>, query: &Query<'_>) -> String {
    request(date, identifier, &search_info(query))
}

/// A `myna-hil oqs serve` process over the clinic registry on a free loopback port.
pub(crate) struct OqsServer {
    child: Child,
    /// Kept open so the server's later output has somewhere to go.
    _stdout: BufReader<std::process::ChildStdout>,
    pub base: String,
    files: Option<tempfile::TempDir>,
}

impl OqsServer {
    /// With the file interface in a temporary folder (polled every 50 ms).
    pub(crate) fn with_files(extra: &[&str]) -> OqsServer {
        let files = tempfile::tempdir().unwrap();
        let mut args: Vec<OsString> = ["--poll-ms", "50", "--files"]
            .iter()
            .map(OsString::from)
            .collect();
        args.push(files.path().as_os_str().to_owned());
        args.extend(extra.iter().map(OsString::from));
        Self::spawn(&args, Some(files))
    }

    /// HTTP only.
    pub(crate) fn http_only(extra: &[&str]) -> OqsServer {
        let args: Vec<OsString> = extra.iter().map(OsString::from).collect();
        Self::spawn(&args, None)
    }

    /// HTTP only, over `oqs serve --synthetic` (`extra` names `--synthetic N --seed S`), the
    /// persons `myna-hil bench` asks for.
    pub(crate) fn synthetic(extra: &[&str]) -> OqsServer {
        let args: Vec<OsString> = extra.iter().map(OsString::from).collect();
        Self::start(&args, None)
    }

    fn spawn(args: &[OsString], files: Option<tempfile::TempDir>) -> OqsServer {
        let mut all = vec![OsString::from("--registry"), OsString::from(REGISTRY)];
        all.extend(args.iter().cloned());
        Self::start(&all, files)
    }

    fn start(args: &[OsString], files: Option<tempfile::TempDir>) -> OqsServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_myna-hil"))
            .args(["oqs", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_owned();
        OqsServer {
            child,
            _stdout: stdout,
            base,
            files,
        }
    }

    /// `host:port`.
    pub(crate) fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn folder(&self, name: &str) -> PathBuf {
        self.files
            .as_ref()
            .expect("started with_files")
            .path()
            .join(name)
    }

    /// Writes a request the way a careful client does: a temporary name, then a rename.
    pub(crate) fn drop_request(&self, name: &[u8], bytes: &[u8]) {
        let temporary = self.folder("req").join("tmp-request");
        std::fs::write(&temporary, bytes).unwrap();
        std::fs::rename(
            &temporary,
            self.folder("req").join(OsString::from_vec(name.to_vec())),
        )
        .unwrap();
    }
}

impl Drop for OqsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most 30 s) for a file whose name starts with `prefix` in `folder`.
pub(crate) fn wait_for_file(folder: &Path, prefix: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = std::fs::read_dir(folder)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(prefix))
            })
        {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {prefix}* in {} after 30 s",
            folder.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
