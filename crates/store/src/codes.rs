//! Identifiers of the ente, of the AOO and of the register, as published in IPA and used in
//! the segnatura. They are parsed once; an invalid one cannot exist.

use std::fmt;

use crate::Error;

/// Allegato 6 `CodiceRegistro` pattern, also fit for IPA and AOO codes: `[A-Za-z0-9_.-]{1,16}`.
fn valid_code(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, Error> {
                if valid_code(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(Error::invalid(
                        $field,
                        format!("{s:?} is not 1 to 16 letters, digits, '_', '.' or '-'"),
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_type!(
    /// The ente's IPA code (`Codice_IPA`), e.g. `c_h501` for a comune.
    IpaCode,
    "IPA code"
);
code_type!(
    /// The AOO code (`Codice_uni_aoo` since 2022, e.g. `A1B2C3D`).
    AooCode,
    "AOO code"
);
code_type!(
    /// The register code (`CodiceRegistro`), e.g. `PG` for the protocollo generale.
    RegisterCode,
    "register code"
);

/// A protocol number as art. 57 wants it: progressive, at least seven digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolNumber(i32);

impl ProtocolNumber {
    pub fn parse(n: i32) -> Result<Self, Error> {
        if n > 0 {
            Ok(Self(n))
        } else {
            Err(Error::invalid("protocol number", format!("{n} is not positive")))
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for ProtocolNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:07}", self.0)
    }
}

impl serde::Serialize for ProtocolNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_the_allegato_6_pattern_only() {
        assert!(IpaCode::parse("c_h501").is_ok());
        assert!(AooCode::parse("A1B2C3D").is_ok());
        assert!(RegisterCode::parse("PG").is_ok());
        for bad in ["", "c h501", "PG/2026", "àèì", "abcdefghijklmnopq"] {
            assert!(RegisterCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn numbers_have_at_least_seven_digits() {
        assert_eq!(ProtocolNumber::parse(1234).map(|n| n.to_string()).ok().as_deref(), Some("0001234"));
        assert_eq!(ProtocolNumber::parse(12345678).map(|n| n.to_string()).ok().as_deref(), Some("12345678"));
        assert!(ProtocolNumber::parse(0).is_err());
        assert!(ProtocolNumber::parse(-3).is_err());
    }
}
