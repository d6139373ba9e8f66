//! Configuration: environment variables into one typed struct. Every variable is documented
//! in `.env.sample`. A missing or malformed value is one error naming the variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono_tz::Tz;
use sigillo_store::codes::{AooCode, IpaCode, RegisterCode};

/// Every variable Sigillo reads. Anything else starting with `SIGILLO_` is warned about:
/// it is most likely a typo of one of these.
pub const KNOWN: &[&str] = &[
    "SIGILLO_DATABASE_URL",
    "SIGILLO_DATA_DIR",
    "SIGILLO_IPA_CODE",
    "SIGILLO_AOO_CODE",
    "SIGILLO_REGISTER_CODE",
    "SIGILLO_TIMEZONE",
    "SIGILLO_LISTEN",
    "SIGILLO_DB_MAX_CONNECTIONS",
    "SIGILLO_TRUST_DIR",
    "SIGILLO_LOG",
    // read by the test harness only
    "SIGILLO_TEST_DATABASE_URL",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres connection URL.
    pub database_url: String,
    /// Where raw messages and documents are stored (the blob store).
    pub data_dir: PathBuf,
    /// The ente's IPA code.
    pub ipa_code: IpaCode,
    /// The AOO code.
    pub aoo_code: AooCode,
    /// The register protocol numbers are taken from.
    pub register_code: RegisterCode,
    /// The time zone of the register's calendar year and dates.
    pub timezone: Tz,
    /// Address of the web server.
    pub listen: SocketAddr,
    /// Size of the database connection pool.
    pub db_max_connections: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is missing: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} is malformed: {reason}")]
    Malformed { var: &'static str, reason: String },
}

/// Reads the configuration from `vars` (the process environment in production). Returns it
/// with the names of unknown `SIGILLO_*` variables, for the caller to warn about.
pub fn from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, Vec<String>), ConfigError> {
    let vars: std::collections::BTreeMap<String, String> = vars.into_iter().collect();
    let get = |var: &'static str| vars.get(var).map(|v| v.trim()).filter(|v| !v.is_empty());
    let require = |var: &'static str, hint: &'static str| get(var).ok_or(ConfigError::Missing { var, hint });
    let malformed = |var: &'static str, reason: String| ConfigError::Malformed { var, reason };

    let database_url = require("SIGILLO_DATABASE_URL", "set it to a postgres:// URL")?;
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        return Err(malformed("SIGILLO_DATABASE_URL", "it must start with postgres:// or postgresql://".into()));
    }
    let data_dir = PathBuf::from(require("SIGILLO_DATA_DIR", "set it to the directory for raw messages and documents")?);
    let ipa_code = IpaCode::parse(require("SIGILLO_IPA_CODE", "set it to the ente's IPA code, e.g. c_h501")?)
        .map_err(|e| malformed("SIGILLO_IPA_CODE", e.to_string()))?;
    let aoo_code = AooCode::parse(require("SIGILLO_AOO_CODE", "set it to the AOO code published in IPA")?)
        .map_err(|e| malformed("SIGILLO_AOO_CODE", e.to_string()))?;
    let register_code = RegisterCode::parse(get("SIGILLO_REGISTER_CODE").unwrap_or("PG"))
        .map_err(|e| malformed("SIGILLO_REGISTER_CODE", e.to_string()))?;
    let tz_name = get("SIGILLO_TIMEZONE").unwrap_or("Europe/Rome");
    let timezone: Tz = tz_name
        .parse()
        .map_err(|_| malformed("SIGILLO_TIMEZONE", format!("{tz_name:?} is not an IANA time zone such as Europe/Rome")))?;
    let listen_text = get("SIGILLO_LISTEN").unwrap_or("127.0.0.1:8080");
    let listen = listen_text
        .parse()
        .map_err(|_| malformed("SIGILLO_LISTEN", format!("{listen_text:?} is not an address:port such as 0.0.0.0:8080")))?;
    let pool_text = get("SIGILLO_DB_MAX_CONNECTIONS").unwrap_or("10");
    let db_max_connections = pool_text
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| malformed("SIGILLO_DB_MAX_CONNECTIONS", format!("{pool_text:?} is not a number from 1 to 1000")))?;

    let unknown = vars
        .keys()
        .filter(|k| k.starts_with("SIGILLO_") && !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect();
    Ok((
        Config {
            database_url: database_url.to_owned(),
            data_dir,
            ipa_code,
            aoo_code,
            register_code,
            timezone,
            listen,
            db_max_connections,
        },
        unknown,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn complete() -> Vec<(String, String)> {
        [
            ("SIGILLO_DATABASE_URL", "postgres://postgres@127.0.0.1/sigillo"),
            ("SIGILLO_DATA_DIR", "/var/lib/sigillo"),
            ("SIGILLO_IPA_CODE", "c_h501"),
            ("SIGILLO_AOO_CODE", "A1B2C3D"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(var: &str, value: Option<&str>) -> Result<(Config, Vec<String>), ConfigError> {
        let mut vars: Vec<_> = complete().into_iter().filter(|(k, _)| k != var).collect();
        if let Some(v) = value {
            vars.push((var.to_owned(), v.to_owned()));
        }
        from_vars(vars)
    }

    #[test]
    fn defaults_apply_to_the_optional_variables() {
        let (c, unknown) = from_vars(complete()).unwrap();
        assert_eq!(c.register_code.as_str(), "PG");
        assert_eq!(c.timezone, chrono_tz::Europe::Rome);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.db_max_connections, 10);
        assert!(unknown.is_empty());
    }

    #[test]
    fn each_required_variable_missing_is_named() {
        for var in ["SIGILLO_DATABASE_URL", "SIGILLO_DATA_DIR", "SIGILLO_IPA_CODE", "SIGILLO_AOO_CODE"] {
            for value in [None, Some(""), Some("   ")] {
                let err = with(var, value).unwrap_err();
                assert!(matches!(err, ConfigError::Missing { var: v, .. } if v == var), "{var}: {err}");
                assert!(err.to_string().starts_with(&format!("{var} is missing")));
            }
        }
    }

    #[test]
    fn each_malformed_variable_is_named_with_the_cause() {
        for (var, value, cause) in [
            ("SIGILLO_DATABASE_URL", "mysql://x", "postgres://"),
            ("SIGILLO_IPA_CODE", "c h501", "letters, digits"),
            ("SIGILLO_AOO_CODE", "AOO/1", "letters, digits"),
            ("SIGILLO_REGISTER_CODE", "PROTOCOLLO-GENERALE-2026", "1 to 16"),
            ("SIGILLO_TIMEZONE", "Europe/Roma", "IANA time zone"),
            ("SIGILLO_LISTEN", "localhost", "address:port"),
            ("SIGILLO_DB_MAX_CONNECTIONS", "0", "1 to 1000"),
            ("SIGILLO_DB_MAX_CONNECTIONS", "many", "1 to 1000"),
        ] {
            let err = with(var, Some(value)).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with(&format!("{var} is malformed")), "{text}");
            assert!(text.contains(cause), "{text}");
        }
    }

    #[test]
    fn unknown_sigillo_variables_are_reported() {
        let mut vars = complete();
        vars.push(("SIGILLO_AOO_COD".into(), "x".into()));
        vars.push(("PATH".into(), "/bin".into()));
        let (_, unknown) = from_vars(vars).unwrap();
        assert_eq!(unknown, ["SIGILLO_AOO_COD"]);
    }
}
