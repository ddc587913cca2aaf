//! The kinds of card and token the emulator can be, and what each carries.

use serde::{Deserialize, Serialize};

/// The kinds of card and token the emulator can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// An ordinary マイナンバーカード: JPKI, 券面事項入力補助AP, 券面事項確認AP, 住基AP, 共通AP.
    #[default]
    Standard,
    /// 顔認証マイナンバーカード: no PINs, no signing certificate; face or 目視 only.
    FaceOnly,
    /// Android スマホ用電子証明書 (`JPKIAPGPSETOKEN`): JPKI only; the auth certificate needs the PIN.
    Smartphone,
    /// iPhone スマホ用電子証明書 (`JPKIAPIOSTOKEN`): as `smartphone`.
    SmartphoneIos,
    /// An old 住基カード (`JPKIAPICCTOKEN`, clients reject it): JPKI and 住基AP only.
    JukiToken,
}

/// What a profile carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProfileFeatures {
    pub(crate) token_label: &'static str,
    pub(crate) auth_pin: bool,
    pub(crate) signing: bool,
    pub(crate) text_ap: bool,
    pub(crate) surface_ap: bool,
    pub(crate) juki_ap: bool,
    pub(crate) auth_certificate_needs_pin: bool,
    /// Answers the last-command indicator `80 FC 00 00` (docs/spec/card-measured.md §8.6).
    pub(crate) takes_last_command_indicator: bool,
}

impl Profile {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::FaceOnly => "face_only",
            Profile::Smartphone => "smartphone",
            Profile::SmartphoneIos => "smartphone_ios",
            Profile::JukiToken => "juki_token",
        }
    }

    pub(crate) fn features(self) -> ProfileFeatures {
        let card = ProfileFeatures {
            token_label: "JPKIAPICCTOKEN2",
            auth_pin: true,
            signing: true,
            text_ap: true,
            surface_ap: true,
            juki_ap: true,
            auth_certificate_needs_pin: false,
            takes_last_command_indicator: false,
        };
        let phone = ProfileFeatures {
            token_label: "JPKIAPGPSETOKEN",
            text_ap: false,
            surface_ap: false,
            juki_ap: false,
            auth_certificate_needs_pin: true,
            ..card
        };
        match self {
            Profile::Standard => card,
            Profile::FaceOnly => ProfileFeatures {
                auth_pin: false,
                signing: false,
                text_ap: true,
                ..card
            },
            Profile::Smartphone => phone,
            Profile::SmartphoneIos => ProfileFeatures {
                token_label: "JPKIAPIOSTOKEN",
                takes_last_command_indicator: true,
                ..phone
            },
            Profile::JukiToken => ProfileFeatures {
                token_label: "JPKIAPICCTOKEN",
                text_ap: false,
                surface_ap: false,
                ..card
            },
        }
    }
}
