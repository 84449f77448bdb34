//! The languages tickets and e-mails are written in: Norwegian Bokmål, Norwegian Nynorsk and
//! English, named by their ISO 639-3 codes as in `Accept-Language`.

use crate::status::UnknownValue;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Nob,
    Nno,
    Eng,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Nob, Language::Nno, Language::Eng];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Nob => "nob",
            Language::Nno => "nno",
            Language::Eng => "eng",
        }
    }

    /// The language an `Accept-Language` value asks for: the first of its comma-separated
    /// entries (quality values ignored) that is one of ours, case-insensitively; the
    /// two-letter and regional forms (`nb`, `nn`, `en`, `en-GB`, `no`) count too. `None`
    /// when no entry is one of ours.
    pub fn negotiate(header: &str) -> Option<Language> {
        header.split(',').find_map(|entry| {
            let tag = entry.split(';').next().unwrap_or("").trim();
            let primary = tag.split(['-', '_']).next().unwrap_or("");
            match primary.to_ascii_lowercase().as_str() {
                "nob" | "nb" | "no" | "nor" => Some(Language::Nob),
                "nno" | "nn" => Some(Language::Nno),
                "eng" | "en" => Some(Language::Eng),
                _ => None,
            }
        })
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "language",
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for l in Language::ALL {
            assert_eq!(l.as_str().parse::<Language>(), Ok(l));
        }
        assert!("de".parse::<Language>().is_err());
    }

    #[test]
    fn negotiation_takes_the_first_supported_entry() {
        assert_eq!(Language::negotiate("eng"), Some(Language::Eng));
        assert_eq!(Language::negotiate("de, nn;q=0.8, en"), Some(Language::Nno));
        assert_eq!(Language::negotiate("en-GB"), Some(Language::Eng));
        assert_eq!(Language::negotiate("NB"), Some(Language::Nob));
        assert_eq!(Language::negotiate("de, fr"), None);
        assert_eq!(Language::negotiate(""), None);
    }
}
