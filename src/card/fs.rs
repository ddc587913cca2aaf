//! The card's applications (DFs) and elementary files, and what reading each file needs.

use super::pin::PinId;

pub(crate) use crate::apdu::ids::AID_COMMON;
/// DF names (AIDs) of the card's applications (spec §2), declared in the APDU vocabulary.
pub(crate) use crate::apdu::ids::AID_JPKI;
pub(crate) use crate::apdu::ids::AID_JUKI;
pub(crate) use crate::apdu::ids::AID_SURFACE;
pub(crate) use crate::apdu::ids::AID_TEXT;

/// Which private key of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyId {
    /// JPKI 利用者証明用秘密鍵.
    Auth,
    /// JPKI 署名用秘密鍵.
    Signing,
    /// 券面事項入力補助AP key 0013 (docs/spec/card-measured.md §6.9).
    TextCard,
    /// 券面事項確認AP key 001A (docs/spec/card-measured.md §7.6).
    SurfaceCard,
}

/// What an EF holds.
#[derive(Clone)]
pub(crate) enum EfContent {
    /// A transparent file READ BINARY serves.
    Data { bytes: Box<[u8]>, read: ReadAccess },
    /// A private key: usable by COMPUTE DIGITAL SIGNATURE after its PIN (the 券面 card keys
    /// need none), never readable.
    Key { key: KeyId, pin: Option<PinId> },
    /// A PIN / 照合番号 EF: the target of VERIFY and CHANGE REFERENCE DATA, never readable.
    Pin(PinId),
    /// A record EF of simple-TLV records, free to READ RECORD (JICSAP 4.4.1).
    Records(Box<[Box<[u8]>]>),
    /// The 共通AP key: INTERNAL AUTHENTICATE with no credential (docs/spec/card-measured.md §5.3).
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

    /// A key (PIN or 照合番号) EF: VERIFY against `fid` checks `id`.
    pub(crate) fn pin(fid: u16, id: PinId) -> ElementaryFile {
        ElementaryFile {
            fid,
            content: EfContent::Pin(id),
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
    /// The key `80 2A` with P2 `00` (the application's default key) uses, if any.
    pub(crate) fn default_key(&self) -> Option<usize> {
        self.files.iter().position(|file| {
            matches!(
                file.content,
                EfContent::Key {
                    key: KeyId::TextCard | KeyId::SurfaceCard,
                    ..
                }
            )
        })
    }

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

    /// The first application (in lookup order) whose DF name starts with `prefix`: selection
    /// by a truncated DF name, legal per JICSAP 4.2 (1) (docs/spec/card-measured.md §1.4).
    pub(crate) fn find_application_by_prefix(&self, prefix: &[u8]) -> Option<usize> {
        self.applications
            .iter()
            .position(|app| app.aid.starts_with(prefix))
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
