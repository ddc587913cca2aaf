//! The card's applications (DFs) and elementary files, and what reading each file needs.

use super::pin::PinId;

/// DF names (AIDs) of the card's applications (spec §2), declared in the APDU vocabulary.
pub use crate::apdu::ids::{AID_COMMON, AID_JPKI, AID_JUKI, AID_SURFACE, AID_TEXT};

/// Which of the two JPKI private keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyId {
    Auth,
    Signing,
}

/// What an EF holds.
#[derive(Clone)]
pub(crate) enum EfContent {
    /// A transparent file READ BINARY serves.
    Data { bytes: Box<[u8]>, read: ReadAccess },
    /// A private key: usable by COMPUTE DIGITAL SIGNATURE after its PIN, never readable.
    Key { key: KeyId, pin: PinId },
    /// A PIN / 照合番号 EF: the target of VERIFY and CHANGE REFERENCE DATA, never readable.
    Pin(PinId),
    /// A record EF of simple-TLV records, free to READ RECORD (JICSAP 4.4.1).
    Records(Box<[Box<[u8]>]>),
    /// The 共通AP key: INTERNAL AUTHENTICATE with no credential (card-measured.md §5.3).
    InternalAuthenticationKey,
}

/// Who may read a data EF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadAccess {
    Free,
    /// Readable while any of these is verified.
    AnyOf(&'static [PinId]),
}

#[derive(Clone)]
pub(crate) struct ElementaryFile {
    pub(crate) fid: u16,
    pub(crate) content: EfContent,
}

impl ElementaryFile {
    pub(crate) fn data(fid: u16, bytes: Vec<u8>, read: ReadAccess) -> ElementaryFile {
        ElementaryFile {
            fid,
            content: EfContent::Data {
                bytes: bytes.into_boxed_slice(),
                read,
            },
        }
    }

    /// The short EF identifier usable in P1/P2 (`80 | SFI`): the FID when it fits in 5 bits.
    pub(crate) fn short_id(&self) -> Option<u8> {
        (self.fid <= 0x1F).then_some(self.fid as u8)
    }
}

/// One application (DF) and its files.
#[derive(Clone)]
pub(crate) struct Application {
    pub(crate) aid: [u8; 10],
    pub(crate) files: Vec<ElementaryFile>,
}

impl Application {
    pub(crate) fn find(&self, fid: u16) -> Option<usize> {
        self.files.iter().position(|file| file.fid == fid)
    }

    pub(crate) fn find_short(&self, short_id: u8) -> Option<usize> {
        self.files
            .iter()
            .position(|file| file.short_id() == Some(short_id))
    }
}

/// All applications a profile carries, in SELECT lookup order.
#[derive(Clone, Default)]
pub(crate) struct FileSystem {
    pub(crate) applications: Vec<Application>,
}

impl FileSystem {
    pub(crate) fn find_application(&self, aid: &[u8]) -> Option<usize> {
        self.applications
            .iter()
            .position(|app| app.aid.as_slice() == aid)
    }

    pub(crate) fn file(&self, app: usize, ef: usize) -> Option<&ElementaryFile> {
        self.applications.get(app)?.files.get(ef)
    }

    /// The bytes of a data EF, for tests and accessors.
    pub(crate) fn data_of(&self, aid: &[u8; 10], fid: u16) -> Option<&[u8]> {
        let app = &self.applications[self.find_application(aid)?];
        match &app.files[app.find(fid)?].content {
            EfContent::Data { bytes, .. } => Some(bytes),
            _ => None,
        }
    }
}
