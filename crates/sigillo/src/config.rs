//! Configuration: environment variables into one typed struct. Every variable is documented
//! in `.env.sample`. A missing or malformed value is one error naming the variable.
//!
//! [`from_vars`] reads one concern at a time (the database, the register, the IMAP accounts
//! and their shared settings, the answers to citizens, the web), each in its own function.
//! Passwords and the database URL (which may hold one) are [`SecretString`]s: `Config`'s
//! `Debug` output, in a log line or a panic, never shows them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::SecretString;
use sigillo_intake::imap::Server;
use sigillo_intake::poller::{Action, Folders, MailboxConfig};
use sigillo_notify::policy::clean_address;
use sigillo_notify::worker::SmtpServer;
use sigillo_store::codes::{AooCode, IpaCode, RegisterCode};
use sigillo_store::policy::{AnomalyPolicy, IndeterminatePolicy, Policy, UnsignedPolicy};
use sigillo_web::WebConfig;

/// Every variable Sigillo reads, with those of [`ACCOUNTS`]. Anything else starting with
/// `SIGILLO_` is warned about: it is most likely a typo of one of these.
pub const KNOWN: &[&str] = &[
    // the database
    "SIGILLO_DATABASE_URL",
    "SIGILLO_DB_MAX_CONNECTIONS",
    // the register
    "SIGILLO_DATA_DIR",
    "SIGILLO_IPA_CODE",
    "SIGILLO_AOO_CODE",
    "SIGILLO_REGISTER_CODE",
    "SIGILLO_TIMEZONE",
    "SIGILLO_TRUST_DIR",
    "SIGILLO_REVOCATION",
    "SIGILLO_TRUSTED_LIST_URL",
    "SIGILLO_TRUSTED_LIST_SIGNERS",
    "SIGILLO_INTAKE_MAX_ATTEMPTS",
    // the check of the blob store
    "SIGILLO_BLOB_VERIFY_PERCENT",
    "SIGILLO_BLOB_VERIFY_HOUR",
    "SIGILLO_BLOB_VERIFY_INTERVAL_SECS",
    // the comune's policy switches (initial values; the dashboard's, once set, win)
    "SIGILLO_POLICY_UNSIGNED",
    "SIGILLO_POLICY_ANOMALY",
    "SIGILLO_POLICY_INDETERMINATE",
    // the web
    "SIGILLO_LISTEN",
    "SIGILLO_STATIC_DIR",
    "SIGILLO_PUBLIC_URL",
    "SIGILLO_TRUSTED_PROXIES",
    // read by tracing-subscriber's filter
    "SIGILLO_LOG",
    // the IMAP settings shared by every account (the accounts' own are in ACCOUNTS below)
    "SIGILLO_IMAP_ACTION",
    "SIGILLO_IMAP_FOLDER_REGISTERED",
    "SIGILLO_IMAP_FOLDER_REJECTED",
    "SIGILLO_IMAP_FOLDER_REVIEW",
    "SIGILLO_IMAP_FOLDER_RECEIPTS",
    "SIGILLO_IMAP_FOLDER_QUARANTINE",
    "SIGILLO_IMAP_BATCH",
    "SIGILLO_IMAP_BATCH_MB",
    "SIGILLO_IMAP_IDLE_RENEW_SECS",
    "SIGILLO_IMAP_POLL_SECS",
    "SIGILLO_IMAP_BACKOFF_MAX_SECS",
    "SIGILLO_IMAP_TIMEOUT_SECS",
    "SIGILLO_INTAKE_WORKERS",
    "SIGILLO_INTAKE_RETRY_SECS",
    // the answers to citizens
    "SIGILLO_NOTIFY_FROM",
    "SIGILLO_ENTE_NAME",
    "SIGILLO_AOO_NAME",
    "SIGILLO_OFFICE_NAME",
    "SIGILLO_OFFICE_EMAIL",
    "SIGILLO_OFFICE_PHONE",
    "SIGILLO_OFFICE_HOURS",
    "SIGILLO_NOTIFY_RATE_PER_HOUR",
    "SIGILLO_NOTIFY_MAX_ATTEMPTS",
    "SIGILLO_NOTIFY_SENDERS",
    "SIGILLO_NOTIFY_RETRY_SECS",
    "SIGILLO_NOTIFY_CONFIRM_SECS",
    "SIGILLO_SMTP_URL",
    "SIGILLO_SMTP_USER",
    "SIGILLO_SMTP_PASSWORD",
    "SIGILLO_SEAL_CERT",
    "SIGILLO_SEAL_KEY",
    // read by the test harness only
    "SIGILLO_TEST_DATABASE_URL",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// Postgres connection URL; secret, as it may hold the password.
    pub database_url: SecretString,
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
    /// Trust anchors: `pec/` and `signatures/`.
    pub trust_dir: Option<PathBuf>,
    /// Revocation of document signing certificates asked online (OCSP, CRL) or only from the
    /// trust directory's CRLs; online by default.
    pub revocation: sigillo_revocation::Mode,
    /// Messages set aside after this many failed attempts.
    pub intake_max_attempts: u32,
    /// The trusted list the service fetches and keeps; `None`: off.
    pub trusted_list: Option<TrustedListConfig>,
    /// The mailboxes the poller of `sigillo serve` reads; empty when no IMAP URL is set.
    pub mailboxes: Vec<MailboxConfig>,
    /// Automatic receipts and notices; `None` when `SIGILLO_NOTIFY_FROM` is not set.
    pub notify: Option<NotifyConfig>,
    /// The comune's policy switches from `SIGILLO_POLICY_*` (the classifier's table when
    /// unset); a policy set on the dashboard, stored in the database, wins over it.
    pub policy: Policy,
    /// The dashboard's settings.
    pub web: WebConfig,
    /// When the service checks its share of the blob store.
    pub blob_verify: crate::blobs::Schedule,
}

/// The EU list of trusted lists: the default of `SIGILLO_TRUSTED_LIST_URL`.
pub const EU_LOTL_URL: &str = "https://ec.europa.eu/tools/lotl/eu-lotl.xml";

/// `SIGILLO_TRUSTED_LIST_URL` and `SIGILLO_TRUSTED_LIST_SIGNERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedListConfig {
    /// An http(s) URL, or a path (an offline copy).
    pub url: String,
    /// PEM file of the certificates allowed to sign the list at `url`.
    pub signers: PathBuf,
}

/// Receipts and notices: who sends them and how.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The comune's PEC address: From of every message, MAIL FROM of every SMTP envelope.
    pub from: String,
    pub ente_name: String,
    pub aoo_name: String,
    pub office_name: String,
    pub office_email: Option<String>,
    pub office_phone: Option<String>,
    pub office_hours: Option<String>,
    pub rate_per_hour: u32,
    pub max_attempts: u32,
    pub retry_base: Duration,
    /// Messages sent at the same time, each on its own SMTP connection.
    pub senders: usize,
    /// How long a send interrupted by a crash waits for the provider's accettazione before
    /// it is sent again.
    pub confirm_window: Duration,
    /// The outbox worker's SMTP server; `None`: rows are queued, no worker sends them.
    pub smtp: Option<SmtpConfig>,
    /// The seal of Segnatura.xml: (certificate, key) PEM files. Paths only: the key itself
    /// is read when the outbox is set up.
    pub seal: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub server: SmtpServer,
    /// (user, password)
    pub credentials: Option<(String, SecretString)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is missing: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} is malformed: {reason}")]
    Malformed { var: &'static str, reason: String },
}

fn malformed(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Malformed { var, reason: reason.into() }
}

/// The variables of one IMAP account. An AOO may receive on several PEC boxes (the general
/// one, the SUAP's...), all feeding its one register: the first account's variables have no
/// number, the others 2, 3 and 4. Every other IMAP setting is shared.
struct AccountVars {
    url: &'static str,
    ca_file: &'static str,
    user: &'static str,
    password: &'static str,
    mailboxes: &'static str,
}

impl AccountVars {
    fn names(&self) -> [&'static str; 5] {
        [self.url, self.ca_file, self.user, self.password, self.mailboxes]
    }
}

const ACCOUNTS: [AccountVars; 4] = [
    AccountVars {
        url: "SIGILLO_IMAP_URL",
        ca_file: "SIGILLO_IMAP_CA_FILE",
        user: "SIGILLO_IMAP_USER",
        password: "SIGILLO_IMAP_PASSWORD",
        mailboxes: "SIGILLO_IMAP_MAILBOXES",
    },
    AccountVars {
        url: "SIGILLO_IMAP_2_URL",
        ca_file: "SIGILLO_IMAP_2_CA_FILE",
        user: "SIGILLO_IMAP_2_USER",
        password: "SIGILLO_IMAP_2_PASSWORD",
        mailboxes: "SIGILLO_IMAP_2_MAILBOXES",
    },
    AccountVars {
        url: "SIGILLO_IMAP_3_URL",
        ca_file: "SIGILLO_IMAP_3_CA_FILE",
        user: "SIGILLO_IMAP_3_USER",
        password: "SIGILLO_IMAP_3_PASSWORD",
        mailboxes: "SIGILLO_IMAP_3_MAILBOXES",
    },
    AccountVars {
        url: "SIGILLO_IMAP_4_URL",
        ca_file: "SIGILLO_IMAP_4_CA_FILE",
        user: "SIGILLO_IMAP_4_USER",
        password: "SIGILLO_IMAP_4_PASSWORD",
        mailboxes: "SIGILLO_IMAP_4_MAILBOXES",
    },
];

fn is_known(var: &str) -> bool {
    KNOWN.contains(&var) || ACCOUNTS.iter().any(|a| a.names().contains(&var))
}

/// The variables as given. A value is trimmed; an empty one counts as unset.
struct Vars(BTreeMap<String, String>);

impl Vars {
    fn get(&self, var: &'static str) -> Option<&str> {
        // A variable read here but missing from the lists would be reported as unknown.
        debug_assert!(is_known(var), "{var} is read but not in KNOWN");
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn require(&self, var: &'static str, hint: &'static str) -> Result<&str, ConfigError> {
        self.get(var).ok_or(ConfigError::Missing { var, hint })
    }

    fn owned(&self, var: &'static str) -> Option<String> {
        self.get(var).map(str::to_owned)
    }

    /// A whole number in `range`, `default` when unset.
    fn number(&self, var: &'static str, default: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
        let Some(text) = self.get(var) else { return Ok(default) };
        text.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| malformed(var, format!("{text:?} is not a number from {} to {}", range.start(), range.end())))
    }

    fn secs(&self, var: &'static str, default: u64, range: RangeInclusive<u64>) -> Result<Duration, ConfigError> {
        self.number(var, default, range).map(Duration::from_secs)
    }

    /// The `SIGILLO_*` names that none of the lists has.
    fn unknown(&self) -> Vec<String> {
        self.0.keys().filter(|k| k.starts_with("SIGILLO_") && !is_known(k)).cloned().collect()
    }
}

/// Reads the configuration from `vars` (the process environment in production). Returns it
/// with the names of unknown `SIGILLO_*` variables, for the caller to warn about.
pub fn from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, Vec<String>), ConfigError> {
    let vars = Vars(vars.into_iter().collect());
    let (database_url, db_max_connections) = database(&vars)?;
    let register = register(&vars)?;
    let policy = policy(&vars)?;
    let (listen, web) = web(&vars, register.trust_dir.clone(), policy)?;
    let accounts = imap_accounts(&vars)?;
    // The shared settings are checked only when some account uses them.
    let mailboxes = if accounts.is_empty() { Vec::new() } else { mailboxes(accounts, &imap_settings(&vars)?) };
    let notify = notify(&vars)?;
    let blob_verify = blob_verify(&vars)?;
    let trusted_list = trusted_list(&vars)?;
    let Register { data_dir, ipa_code, aoo_code, register_code, timezone, trust_dir, revocation, intake_max_attempts } = register;
    let config = Config {
        database_url,
        data_dir,
        ipa_code,
        aoo_code,
        register_code,
        timezone,
        listen,
        db_max_connections,
        trust_dir,
        revocation,
        intake_max_attempts,
        trusted_list,
        mailboxes,
        notify,
        policy,
        web,
        blob_verify,
    };
    Ok((config, vars.unknown()))
}

/// The service's check of the blob store: a share of it each night.
fn blob_verify(v: &Vars) -> Result<crate::blobs::Schedule, ConfigError> {
    Ok(crate::blobs::Schedule {
        percent: v.number("SIGILLO_BLOB_VERIFY_PERCENT", 10, 0..=100)? as u8,
        hour: v.number("SIGILLO_BLOB_VERIFY_HOUR", 3, 0..=23)? as u32,
        every: match v.get("SIGILLO_BLOB_VERIFY_INTERVAL_SECS") {
            None => None,
            Some(_) => Some(v.secs("SIGILLO_BLOB_VERIFY_INTERVAL_SECS", 86_400, 1..=31 * 86_400)?),
        },
    })
}

/// The connection URL and the pool's size.
fn database(v: &Vars) -> Result<(SecretString, u32), ConfigError> {
    let url = v.require("SIGILLO_DATABASE_URL", "set it to a postgres:// URL")?;
    // The message never quotes the URL: it may hold the password.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(malformed("SIGILLO_DATABASE_URL", "it must start with postgres:// or postgresql://"));
    }
    let pool_text = v.get("SIGILLO_DB_MAX_CONNECTIONS").unwrap_or("10");
    let max_connections = pool_text
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| malformed("SIGILLO_DB_MAX_CONNECTIONS", format!("{pool_text:?} is not a number from 1 to 1000")))?;
    Ok((SecretString::from(url.to_owned()), max_connections))
}

/// The register's part of [`Config`]: which register, where its documents are, what the
/// classifier trusts.
struct Register {
    data_dir: PathBuf,
    ipa_code: IpaCode,
    aoo_code: AooCode,
    register_code: RegisterCode,
    timezone: Tz,
    trust_dir: Option<PathBuf>,
    revocation: sigillo_revocation::Mode,
    intake_max_attempts: u32,
}

fn register(v: &Vars) -> Result<Register, ConfigError> {
    let data_dir = PathBuf::from(v.require("SIGILLO_DATA_DIR", "set it to the directory for raw messages and documents")?);
    let ipa_code = IpaCode::parse(v.require("SIGILLO_IPA_CODE", "set it to the ente's IPA code, e.g. c_h501")?)
        .map_err(|e| malformed("SIGILLO_IPA_CODE", e.to_string()))?;
    let aoo_code = AooCode::parse(v.require("SIGILLO_AOO_CODE", "set it to the AOO code published in IPA")?)
        .map_err(|e| malformed("SIGILLO_AOO_CODE", e.to_string()))?;
    let register_code = RegisterCode::parse(v.get("SIGILLO_REGISTER_CODE").unwrap_or("PG"))
        .map_err(|e| malformed("SIGILLO_REGISTER_CODE", e.to_string()))?;
    let tz_name = v.get("SIGILLO_TIMEZONE").unwrap_or("Europe/Rome");
    let timezone: Tz = tz_name
        .parse()
        .map_err(|_| malformed("SIGILLO_TIMEZONE", format!("{tz_name:?} is not an IANA time zone such as Europe/Rome")))?;
    Ok(Register {
        data_dir,
        ipa_code,
        aoo_code,
        register_code,
        timezone,
        trust_dir: v.get("SIGILLO_TRUST_DIR").map(PathBuf::from),
        revocation: match v.get("SIGILLO_REVOCATION") {
            None => sigillo_revocation::Mode::Online,
            Some(text) => text.parse().map_err(|e: String| malformed("SIGILLO_REVOCATION", e))?,
        },
        intake_max_attempts: v.number("SIGILLO_INTAKE_MAX_ATTEMPTS", 5, 1..=100)? as u32,
    })
}

/// The policy switches; each unset one keeps the classifier's table.
fn policy(v: &Vars) -> Result<Policy, ConfigError> {
    fn one<T: Copy>(
        v: &Vars,
        var: &'static str,
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
        default: T,
    ) -> Result<T, ConfigError> {
        let Some(text) = v.get(var) else { return Ok(default) };
        parse(text).ok_or_else(|| {
            let allowed: Vec<&str> = all.iter().map(|x| as_str(*x)).collect();
            malformed(var, format!("{text:?} is not one of {}", allowed.join(", ")))
        })
    }
    let d = Policy::default();
    Ok(Policy {
        unsigned: one(v, "SIGILLO_POLICY_UNSIGNED", &UnsignedPolicy::ALL, UnsignedPolicy::as_str, UnsignedPolicy::parse, d.unsigned)?,
        anomaly: one(v, "SIGILLO_POLICY_ANOMALY", &AnomalyPolicy::ALL, AnomalyPolicy::as_str, AnomalyPolicy::parse, d.anomaly)?,
        indeterminate: one(
            v,
            "SIGILLO_POLICY_INDETERMINATE",
            &IndeterminatePolicy::ALL,
            IndeterminatePolicy::as_str,
            IndeterminatePolicy::parse,
            d.indeterminate,
        )?,
    })
}

/// The trusted list: on by default (the EU list of trusted lists) once the certificates
/// allowed to sign it are given; an empty `SIGILLO_TRUSTED_LIST_URL` (or `off`) turns it off,
/// for installations without Internet access. A URL set explicitly without signers is an
/// error: the list could not be verified.
fn trusted_list(v: &Vars) -> Result<Option<TrustedListConfig>, ConfigError> {
    const URL: &str = "SIGILLO_TRUSTED_LIST_URL";
    const SIGNERS: &str = "SIGILLO_TRUSTED_LIST_SIGNERS";
    // Read raw: set and empty means off, unset means the default.
    let url = match v.0.get(URL).map(|u| u.trim()) {
        Some("" | "off") => return Ok(None),
        Some(u) => {
            if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/')) {
                return Err(malformed(URL, format!("{u:?}: an http(s):// URL or an absolute path; empty to turn the lists off")));
            }
            Some(u.to_owned())
        }
        None => None,
    };
    match (url, v.get(SIGNERS)) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Missing {
            var: SIGNERS,
            hint: "SIGILLO_TRUSTED_LIST_URL is set: set the PEM file of the certificates allowed to sign that list",
        }),
        (url, Some(signers)) => {
            let url = url.unwrap_or_else(|| EU_LOTL_URL.to_owned());
            crate::trust_lists::read_signers(std::path::Path::new(signers)).map_err(|e| malformed(SIGNERS, e))?;
            Ok(Some(TrustedListConfig { url, signers: PathBuf::from(signers) }))
        }
    }
}

/// The address to listen on and the dashboard's settings. `trust_dir` is the register's:
/// "register anyway" classifies with the same anchors as the intake; `policy` the
/// configuration's, shown while none is set on the dashboard.
fn web(v: &Vars, trust_dir: Option<PathBuf>, policy: Policy) -> Result<(SocketAddr, WebConfig), ConfigError> {
    let listen_text = v.get("SIGILLO_LISTEN").unwrap_or("127.0.0.1:8080");
    let listen = listen_text
        .parse()
        .map_err(|_| malformed("SIGILLO_LISTEN", format!("{listen_text:?} is not an address:port such as 0.0.0.0:8080")))?;
    let static_dir = PathBuf::from(v.get("SIGILLO_STATIC_DIR").unwrap_or("web/static"));
    // The address staff use: behind https:// (directly or through a TLS-terminating proxy)
    // the cookies are `Secure`; unset, plain HTTP on loopback.
    let secure_cookies = match v.get("SIGILLO_PUBLIC_URL") {
        None => false,
        Some(u) if u.starts_with("https://") => true,
        Some(u) if u.starts_with("http://") => false,
        Some(u) => return Err(malformed("SIGILLO_PUBLIC_URL", format!("{u:?} does not start with https:// or http://"))),
    };
    // The TLS-terminating proxies in front of the dashboard: their X-Forwarded-For names the
    // client, so that login throttling tells one clerk from another.
    let trusted_proxies = sigillo_web::TrustedProxies::parse(v.get("SIGILLO_TRUSTED_PROXIES").unwrap_or(""))
        .map_err(|e| malformed("SIGILLO_TRUSTED_PROXIES", format!("{e}; expected addresses or networks separated by commas, such as 127.0.0.1, 10.0.0.0/8")))?;
    Ok((listen, WebConfig { static_dir, secure_cookies, trusted_proxies, trust_dir, policy }))
}

/// One configured IMAP account: its server, credentials and the folders to read.
struct Account {
    server: Server,
    user: String,
    password: SecretString,
    folders: Vec<String>,
}

/// The accounts of [`ACCOUNTS`] that have a URL, in order; none when no IMAP URL is set.
fn imap_accounts(v: &Vars) -> Result<Vec<Account>, ConfigError> {
    let mut accounts: Vec<Account> = Vec::new();
    for (i, a) in ACCOUNTS.iter().enumerate() {
        let Some(url) = v.get(a.url) else {
            // A numbered account's settings without its URL are a mistake, not a default.
            if let Some(var) = a.names().into_iter().find(|n| i > 0 && v.get(n).is_some()) {
                return Err(malformed(var, format!("set without {}", a.url)));
            }
            continue;
        };
        if i > 0 && v.get(ACCOUNTS[0].url).is_none() {
            return Err(malformed(a.url, "set without SIGILLO_IMAP_URL (the first account has no number)"));
        }
        let mut server = Server::parse(url).map_err(|e| malformed(a.url, e))?;
        if let Some(path) = v.get(a.ca_file) {
            if !server.tls {
                return Err(malformed(a.ca_file, format!("only used with an imaps:// {}", a.url)));
            }
            let pem = std::fs::read(path).map_err(|e| malformed(a.ca_file, format!("cannot read {path}: {e}")))?;
            server.extra_roots =
                sigillo_intake::imap::parse_ca_pem(&pem).map_err(|e| malformed(a.ca_file, format!("{path}: {e}")))?;
        }
        let user = v.require(a.user, "set it to the PEC mailbox's user name")?.to_owned();
        let password = SecretString::from(v.require(a.password, "set it to the PEC mailbox's password")?.to_owned());
        let folders = account_folders(v, a, &server, &user, &accounts)?;
        accounts.push(Account { server, user, password, folders });
    }
    Ok(accounts)
}

/// The folders `a` reads (`INBOX` by default); none read twice, here or by an `earlier`
/// account on the same server and user.
fn account_folders(
    v: &Vars,
    a: &AccountVars,
    server: &Server,
    user: &str,
    earlier: &[Account],
) -> Result<Vec<String>, ConfigError> {
    let names = v.get(a.mailboxes).unwrap_or("INBOX");
    let mut folders: Vec<String> = Vec::new();
    for name in names.split(',').map(str::trim) {
        if name.is_empty() || name.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
            return Err(malformed(a.mailboxes, format!("{names:?}: a comma-separated list of folder names")));
        }
        let same = |e: &Account| {
            e.server.host.eq_ignore_ascii_case(&server.host)
                && e.server.port == server.port
                && e.user == user
                && e.folders.iter().any(|n| n == name)
        };
        if folders.iter().any(|n| n == name) || earlier.iter().any(same) {
            return Err(malformed(a.mailboxes, format!("{name:?} of {user} is read twice")));
        }
        folders.push(name.to_owned());
    }
    Ok(folders)
}

/// The IMAP settings every account shares.
struct ImapSettings {
    action: Action,
    folders: Folders,
    batch_size: usize,
    batch_bytes: u64,
    workers: usize,
    idle_renew: Duration,
    poll_interval: Duration,
    retry_base: Duration,
    backoff_max: Duration,
    op_timeout: Duration,
}

fn imap_settings(v: &Vars) -> Result<ImapSettings, ConfigError> {
    let action = match v.get("SIGILLO_IMAP_ACTION").unwrap_or("move") {
        "move" => Action::Move,
        "flag" => Action::Flag,
        other => return Err(malformed("SIGILLO_IMAP_ACTION", format!("{other:?} is neither move nor flag"))),
    };
    let folder = |var: &'static str, default: String| -> Result<String, ConfigError> {
        let f = v.owned(var).unwrap_or(default);
        if f.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
            return Err(malformed(var, format!("{f:?}: no quotes, backslashes or control characters")));
        }
        Ok(f)
    };
    let d = Folders::default();
    let folders = Folders {
        registered: folder("SIGILLO_IMAP_FOLDER_REGISTERED", d.registered)?,
        rejected: folder("SIGILLO_IMAP_FOLDER_REJECTED", d.rejected)?,
        review: folder("SIGILLO_IMAP_FOLDER_REVIEW", d.review)?,
        receipts: folder("SIGILLO_IMAP_FOLDER_RECEIPTS", d.receipts)?,
        quarantine: folder("SIGILLO_IMAP_FOLDER_QUARANTINE", d.quarantine)?,
    };
    let batch_size = v.number("SIGILLO_IMAP_BATCH", 50, 1..=10_000)? as usize;
    // A batch is held in memory and, after a failure, read again: 16 MiB is a few seconds on
    // a good link and half a minute at 0.5 MB/s (the time limit counts from the last byte
    // received, so a slower link is slow, not stuck).
    let batch_bytes = v.number("SIGILLO_IMAP_BATCH_MB", 16, 1..=1024)? << 20;
    // RFC 2177: servers may end an IDLE after 30 minutes; renew before 29.
    let idle_renew = v.secs("SIGILLO_IMAP_IDLE_RENEW_SECS", 1500, 1..=1740)?;
    let poll_interval = v.secs("SIGILLO_IMAP_POLL_SECS", 60, 1..=3600)?;
    let backoff_max = v.secs("SIGILLO_IMAP_BACKOFF_MAX_SECS", 60, 1..=3600)?;
    let op_timeout = v.secs("SIGILLO_IMAP_TIMEOUT_SECS", 120, 1..=3600)?;
    // Two per core: a worker spends part of each message waiting on Postgres and the
    // blob store's fsync, so more workers than cores keep the cores busy (measured on
    // 2 cores, 1,000 messages: 2 workers 107 msg/s, 4 → 134, 8 → 160).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let workers = v.number("SIGILLO_INTAKE_WORKERS", (2 * cores).clamp(2, 16), 1..=64)? as usize;
    let retry_base = v.secs("SIGILLO_INTAKE_RETRY_SECS", 60, 0..=86_400)?;
    Ok(ImapSettings { action, folders, batch_size, batch_bytes, workers, idle_renew, poll_interval, retry_base, backoff_max, op_timeout })
}

/// One poller per folder of each account, all with the shared settings.
fn mailboxes(accounts: Vec<Account>, s: &ImapSettings) -> Vec<MailboxConfig> {
    let mut list = Vec::new();
    for account in accounts {
        for mailbox in account.folders {
            list.push(MailboxConfig {
                server: account.server.clone(),
                user: account.user.clone(),
                password: account.password.clone(),
                mailbox,
                action: s.action,
                folders: s.folders.clone(),
                batch_size: s.batch_size,
                batch_bytes: s.batch_bytes,
                workers: s.workers,
                idle_renew: s.idle_renew,
                poll_interval: s.poll_interval,
                retry_base: s.retry_base,
                backoff_max: s.backoff_max,
                op_timeout: s.op_timeout,
            });
        }
    }
    list
}

/// Receipts and notices; `None` without `SIGILLO_NOTIFY_FROM`.
fn notify(v: &Vars) -> Result<Option<NotifyConfig>, ConfigError> {
    let Some(from) = v.get("SIGILLO_NOTIFY_FROM") else {
        if v.get("SIGILLO_SMTP_URL").is_some() {
            return Err(ConfigError::Missing {
                var: "SIGILLO_NOTIFY_FROM",
                hint: "SIGILLO_SMTP_URL is set: set the comune's PEC address the receipts are sent from",
            });
        }
        return Ok(None);
    };
    let from = clean_address(from)
        .ok_or_else(|| malformed("SIGILLO_NOTIFY_FROM", format!("{from:?} is not an address such as protocollo@pec.comune.example.it")))?;
    let ente_name = v.require("SIGILLO_ENTE_NAME", "set it to the ente's name as it appears in receipts, e.g. Comune di Roma")?.to_owned();
    let smtp = smtp(v)?;
    let seal = seal(v)?;
    Ok(Some(NotifyConfig {
        from,
        ente_name,
        aoo_name: v.owned("SIGILLO_AOO_NAME").unwrap_or_else(|| "Protocollo generale".to_owned()),
        office_name: v.owned("SIGILLO_OFFICE_NAME").unwrap_or_else(|| "Ufficio Protocollo".to_owned()),
        office_email: v.owned("SIGILLO_OFFICE_EMAIL"),
        office_phone: v.owned("SIGILLO_OFFICE_PHONE"),
        office_hours: v.owned("SIGILLO_OFFICE_HOURS"),
        rate_per_hour: v.number("SIGILLO_NOTIFY_RATE_PER_HOUR", 20, 1..=10_000)? as u32,
        max_attempts: v.number("SIGILLO_NOTIFY_MAX_ATTEMPTS", 8, 1..=100)? as u32,
        retry_base: v.secs("SIGILLO_NOTIFY_RETRY_SECS", 60, 1..=86_400)?,
        senders: v.number("SIGILLO_NOTIFY_SENDERS", 4, 1..=32)? as usize,
        // At least the longest send (a few SMTP commands of up to 60 s each).
        confirm_window: v.secs("SIGILLO_NOTIFY_CONFIRM_SECS", 600, 5..=86_400)?,
        smtp,
        seal,
    }))
}

/// The outbox worker's server; `None` without `SIGILLO_SMTP_URL`.
fn smtp(v: &Vars) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(url) = v.get("SIGILLO_SMTP_URL") else { return Ok(None) };
    let server = SmtpServer::parse(url).map_err(|e| malformed("SIGILLO_SMTP_URL", e))?;
    let credentials = match (v.get("SIGILLO_SMTP_USER"), v.get("SIGILLO_SMTP_PASSWORD")) {
        (None, None) => None,
        (Some(u), Some(p)) => Some((u.to_owned(), SecretString::from(p.to_owned()))),
        (Some(_), None) => {
            return Err(ConfigError::Missing { var: "SIGILLO_SMTP_PASSWORD", hint: "SIGILLO_SMTP_USER is set: set its password" });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Missing { var: "SIGILLO_SMTP_USER", hint: "SIGILLO_SMTP_PASSWORD is set: set the user name" });
        }
    };
    Ok(Some(SmtpConfig { server, credentials }))
}

/// The seal's (certificate, key) files: both or neither.
fn seal(v: &Vars) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (v.get("SIGILLO_SEAL_CERT"), v.get("SIGILLO_SEAL_KEY")) {
        (None, None) => Ok(None),
        (Some(c), Some(k)) => Ok(Some((PathBuf::from(c), PathBuf::from(k)))),
        (Some(_), None) => {
            Err(ConfigError::Missing { var: "SIGILLO_SEAL_KEY", hint: "SIGILLO_SEAL_CERT is set: set the PEM file of its private key" })
        }
        (None, Some(_)) => {
            Err(ConfigError::Missing { var: "SIGILLO_SEAL_CERT", hint: "SIGILLO_SEAL_KEY is set: set the PEM file of its certificate" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

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

    /// [`complete`] plus `extra`.
    fn complete_and(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut vars = complete();
        vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        vars
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
    fn imap_settings_are_read_and_checked() {
        let (c, _) = from_vars(complete()).unwrap();
        assert!(c.mailboxes.is_empty(), "no SIGILLO_IMAP_URL, no intake");
        let vars = complete_and(&[
            ("SIGILLO_IMAP_URL", "imaps://imaps.pec.example.it"),
            ("SIGILLO_IMAP_USER", "protocollo@pec.comune.example.it"),
            ("SIGILLO_IMAP_PASSWORD", "segreta"),
            ("SIGILLO_IMAP_MAILBOXES", "INBOX, Archivio PEC"),
            ("SIGILLO_IMAP_FOLDER_REVIEW", "Da controllare"),
        ]);
        let (c, unknown) = from_vars(vars.clone()).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(c.mailboxes.len(), 2);
        assert_eq!(c.mailboxes[1].mailbox, "Archivio PEC");
        assert_eq!(c.mailboxes[0].server.port, 993);
        assert_eq!(c.mailboxes[0].folders.review, "Da controllare");
        assert_eq!(c.mailboxes[0].folders.registered, "Protocollati");
        assert_eq!(c.mailboxes[0].idle_renew.as_secs(), 1500);
        assert_eq!(c.mailboxes[0].batch_bytes, 16 << 20);

        for (var, value, cause) in [
            ("SIGILLO_IMAP_URL", "imap://mail.example.it:143", "imaps://"),
            ("SIGILLO_IMAP_ACTION", "delete", "neither move nor flag"),
            ("SIGILLO_IMAP_IDLE_RENEW_SECS", "1800", "1 to 1740"),
            ("SIGILLO_IMAP_BATCH", "0", "1 to 10000"),
            ("SIGILLO_IMAP_BATCH_MB", "0", "1 to 1024"),
            ("SIGILLO_IMAP_MAILBOXES", "INBOX,,X", "comma-separated"),
            ("SIGILLO_INTAKE_MAX_ATTEMPTS", "many", "1 to 100"),
        ] {
            let mut v: Vec<_> = vars.iter().filter(|(k, _)| k != var).cloned().collect();
            v.push((var.to_owned(), value.to_owned()));
            let text = from_vars(v).unwrap_err().to_string();
            assert!(text.starts_with(&format!("{var} is malformed")) && text.contains(cause), "{text}");
        }
        let v: Vec<_> = vars.iter().filter(|(k, _)| k != "SIGILLO_IMAP_PASSWORD").cloned().collect();
        assert!(from_vars(v).unwrap_err().to_string().starts_with("SIGILLO_IMAP_PASSWORD is missing"));
    }

    #[test]
    fn several_pec_boxes_feed_one_register() {
        let vars = complete_and(&[
            ("SIGILLO_IMAP_URL", "imaps://imaps.pec.example.it"),
            ("SIGILLO_IMAP_USER", "protocollo@pec.comune.example.it"),
            ("SIGILLO_IMAP_PASSWORD", "segreta"),
            ("SIGILLO_IMAP_MAILBOXES", "INBOX, Archivio PEC"),
            ("SIGILLO_IMAP_2_URL", "imaps://imaps.altro-gestore.example.it:994"),
            ("SIGILLO_IMAP_2_USER", "suap@pec.comune.example.it"),
            ("SIGILLO_IMAP_2_PASSWORD", "altra"),
            ("SIGILLO_IMAP_FOLDER_REGISTERED", "Registrati"),
        ]);
        let (c, unknown) = from_vars(vars.clone()).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let read: Vec<_> = c.mailboxes.iter().map(|m| (m.user.as_str(), m.server.port, m.mailbox.as_str())).collect();
        assert_eq!(
            read,
            [
                ("protocollo@pec.comune.example.it", 993, "INBOX"),
                ("protocollo@pec.comune.example.it", 993, "Archivio PEC"),
                ("suap@pec.comune.example.it", 994, "INBOX"),
            ]
        );
        assert_eq!(c.mailboxes[2].password.expose_secret(), "altra");
        assert!(c.mailboxes.iter().all(|m| m.folders.registered == "Registrati"), "the other settings are shared");
        let mut five = vars.clone();
        five.push(("SIGILLO_IMAP_5_URL".to_owned(), "imaps://x.example.it".to_owned()));
        assert_eq!(from_vars(five).unwrap().1, ["SIGILLO_IMAP_5_URL"], "a fifth box is not read, and the warning says so");

        let change = |set: &[(&str, &str)], remove: &[&str]| {
            let mut v: Vec<(String, String)> =
                vars.iter().filter(|(k, _)| !remove.contains(&k.as_str()) && !set.iter().any(|(s, _)| s == k)).cloned().collect();
            v.extend(set.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            from_vars(v).unwrap_err().to_string()
        };
        for (text, expected) in [
            (change(&[], &["SIGILLO_IMAP_2_URL"]), "SIGILLO_IMAP_2_USER is malformed: set without SIGILLO_IMAP_2_URL"),
            (
                change(&[], &["SIGILLO_IMAP_URL", "SIGILLO_IMAP_USER", "SIGILLO_IMAP_PASSWORD", "SIGILLO_IMAP_MAILBOXES"]),
                "SIGILLO_IMAP_2_URL is malformed: set without SIGILLO_IMAP_URL",
            ),
            (change(&[], &["SIGILLO_IMAP_2_PASSWORD"]), "SIGILLO_IMAP_2_PASSWORD is missing"),
            (
                change(&[("SIGILLO_IMAP_3_URL", "ftp://x"), ("SIGILLO_IMAP_3_USER", "u"), ("SIGILLO_IMAP_3_PASSWORD", "p")], &[]),
                "SIGILLO_IMAP_3_URL is malformed",
            ),
            (
                change(&[("SIGILLO_IMAP_2_URL", "imaps://IMAPS.pec.example.it"), ("SIGILLO_IMAP_2_USER", "protocollo@pec.comune.example.it")], &[]),
                "SIGILLO_IMAP_2_MAILBOXES is malformed: \"INBOX\" of protocollo@pec.comune.example.it is read twice",
            ),
            (change(&[("SIGILLO_IMAP_MAILBOXES", "INBOX,INBOX")], &[]), "SIGILLO_IMAP_MAILBOXES is malformed: \"INBOX\""),
        ] {
            assert!(text.starts_with(expected), "{text}");
        }
    }

    #[test]
    fn an_imap_ca_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ca = sigillo_testpki::Ca::new_root("CA IMAP interna del Comune");
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("{}{}", ca.cert_pem(), sigillo_testpki::Ca::new_root("Seconda CA").cert_pem())).unwrap();
        let not_pem = dir.path().join("ca.der");
        std::fs::write(&not_pem, ca.cert_der()).unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
        let with = |url: &str, ca_file: &std::path::Path| {
            let vars = complete_and(&[
                ("SIGILLO_IMAP_URL", url),
                ("SIGILLO_IMAP_USER", "protocollo"),
                ("SIGILLO_IMAP_PASSWORD", "segreta"),
                ("SIGILLO_IMAP_CA_FILE", &*ca_file.to_string_lossy()),
            ]);
            from_vars(vars)
        };

        let (c, unknown) = with("imaps://imap.comune.example.it", &good).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(c.mailboxes[0].server.extra_roots.len(), 2);
        assert_eq!(c.mailboxes[0].server.extra_roots[0].as_ref(), ca.cert_der());

        let cases: [(&str, std::path::PathBuf, &str); 4] = [
            ("imaps://imap.comune.example.it", dir.path().join("missing.pem"), "cannot read"),
            ("imaps://imap.comune.example.it", not_pem.clone(), "no PEM certificate"),
            ("imaps://imap.comune.example.it", broken.clone(), "certificate 1: not usable as a trust anchor"),
            ("imap://127.0.0.1:1143", good.clone(), "only used with an imaps://"),
        ];
        for (url, file, cause) in cases {
            let text = with(url, &file).unwrap_err().to_string();
            assert!(text.starts_with("SIGILLO_IMAP_CA_FILE is malformed") && text.contains(cause), "{text}");
            if cause != "only used with an imaps://" {
                assert!(text.contains(&*file.to_string_lossy()), "names the file: {text}");
            }
        }
    }

    #[test]
    fn policy_switches_are_read_and_checked() {
        let (c, _) = from_vars(complete()).unwrap();
        assert_eq!(c.policy, Policy::default(), "unset: the classifier's table");
        let (c, unknown) = from_vars(complete_and(&[
            ("SIGILLO_POLICY_UNSIGNED", "register-flag"),
            ("SIGILLO_POLICY_ANOMALY", "review"),
            ("SIGILLO_POLICY_INDETERMINATE", "reject"),
        ]))
        .unwrap();
        assert!(unknown.is_empty());
        assert_eq!(
            c.policy,
            Policy {
                unsigned: UnsignedPolicy::RegisterFlag,
                anomaly: AnomalyPolicy::Review,
                indeterminate: IndeterminatePolicy::Reject
            }
        );
        assert_eq!(c.web.policy, c.policy);
        for (var, value) in [
            ("SIGILLO_POLICY_UNSIGNED", "register"),
            ("SIGILLO_POLICY_ANOMALY", "accept"),
            ("SIGILLO_POLICY_INDETERMINATE", "maybe"),
        ] {
            let text = from_vars(complete_and(&[(var, value)])).unwrap_err().to_string();
            assert!(text.starts_with(&format!("{var} is malformed")) && text.contains(value), "{text}");
        }
    }

    #[test]
    fn notify_settings_are_read_and_checked() {
        let (c, _) = from_vars(complete()).unwrap();
        assert!(c.notify.is_none(), "no SIGILLO_NOTIFY_FROM, no answers");
        let vars = complete_and(&[
            ("SIGILLO_NOTIFY_FROM", "protocollo@pec.comune.example.it"),
            ("SIGILLO_ENTE_NAME", "Comune di Esempio"),
            ("SIGILLO_SMTP_URL", "smtps://smtps.pec.example.it"),
            ("SIGILLO_SMTP_USER", "protocollo@pec.comune.example.it"),
            ("SIGILLO_SMTP_PASSWORD", "segreta"),
            ("SIGILLO_OFFICE_PHONE", "06 123456"),
        ]);
        let (c, unknown) = from_vars(vars.clone()).unwrap();
        assert!(unknown.is_empty());
        let n = c.notify.unwrap();
        assert_eq!(n.from, "protocollo@pec.comune.example.it");
        assert_eq!((n.rate_per_hour, n.max_attempts, n.retry_base.as_secs()), (20, 8, 60));
        assert_eq!(n.office_name, "Ufficio Protocollo");
        assert_eq!(n.office_phone.as_deref(), Some("06 123456"));
        let smtp = n.smtp.unwrap();
        assert_eq!(smtp.server.port, 465);
        assert!(!format!("{smtp:?}").contains("segreta"), "the password is never printed");

        for (var, value, cause) in [
            ("SIGILLO_NOTIFY_FROM", "protocollo at comune", "not an address"),
            ("SIGILLO_SMTP_URL", "http://smtp.example.it", "smtps://"),
            ("SIGILLO_SMTP_URL", "smtp://smtp.example.it:0", "not a port"),
            ("SIGILLO_NOTIFY_RATE_PER_HOUR", "0", "1 to 10000"),
            ("SIGILLO_NOTIFY_MAX_ATTEMPTS", "many", "1 to 100"),
        ] {
            let mut v: Vec<_> = vars.iter().filter(|(k, _)| k != var).cloned().collect();
            v.push((var.to_owned(), value.to_owned()));
            let text = from_vars(v).unwrap_err().to_string();
            assert!(text.starts_with(&format!("{var} is malformed")) && text.contains(cause), "{text}");
        }
        for (removed, missing) in [
            ("SIGILLO_ENTE_NAME", "SIGILLO_ENTE_NAME"),
            ("SIGILLO_SMTP_PASSWORD", "SIGILLO_SMTP_PASSWORD"),
            ("SIGILLO_NOTIFY_FROM", "SIGILLO_NOTIFY_FROM"),
        ] {
            let v: Vec<_> = vars.iter().filter(|(k, _)| k != removed).cloned().collect();
            let text = from_vars(v).unwrap_err().to_string();
            assert!(text.starts_with(&format!("{missing} is missing")), "{text}");
        }
        let mut v = vars.clone();
        v.push(("SIGILLO_SEAL_CERT".into(), "/etc/sigillo/seal.pem".into()));
        assert!(from_vars(v).unwrap_err().to_string().starts_with("SIGILLO_SEAL_KEY is missing"));
        // Without SMTP the rows are still written (for a worker elsewhere).
        let v: Vec<_> = vars.iter().filter(|(k, _)| !k.starts_with("SIGILLO_SMTP_")).cloned().collect();
        assert!(from_vars(v).unwrap().0.notify.unwrap().smtp.is_none());
    }

    #[test]
    fn public_url_decides_secure_cookies() {
        let config = |extra: &[(&str, &str)]| from_vars(complete_and(extra)).map(|(c, _)| c.web);
        let c = config(&[]).unwrap();
        assert_eq!((c.static_dir, c.secure_cookies), (PathBuf::from("web/static"), false));
        let c = config(&[("SIGILLO_PUBLIC_URL", " https://protocollo.comune.example.it "), ("SIGILLO_STATIC_DIR", "/srv/s")]).unwrap();
        assert_eq!((c.static_dir, c.secure_cookies), (PathBuf::from("/srv/s"), true));
        assert!(!config(&[("SIGILLO_PUBLIC_URL", "http://127.0.0.1:8080")]).unwrap().secure_cookies);
        let e = config(&[("SIGILLO_PUBLIC_URL", "ftp://x")]).unwrap_err();
        assert!(matches!(e, ConfigError::Malformed { var: "SIGILLO_PUBLIC_URL", .. }), "{e}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let config = |extra: &[(&str, &str)]| from_vars(complete_and(extra)).map(|(c, _)| c.web);
        assert!(config(&[]).unwrap().trusted_proxies.is_empty());
        let c = config(&[("SIGILLO_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8 ,::1")]).unwrap();
        assert_eq!(c.trusted_proxies, sigillo_web::TrustedProxies::parse("127.0.0.1,10.0.0.0/8,::1").unwrap());
        let e = config(&[("SIGILLO_TRUSTED_PROXIES", "127.0.0.1, nginx")]).unwrap_err();
        assert!(matches!(e, ConfigError::Malformed { var: "SIGILLO_TRUSTED_PROXIES", .. }), "{e}");
        assert!(e.to_string().contains("nginx"), "{e}");
    }

    #[test]
    fn the_web_shares_the_trust_dir() {
        let (c, unknown) = from_vars(complete_and(&[("SIGILLO_TRUST_DIR", "/etc/sigillo/trust")])).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(c.trust_dir.as_deref(), Some(std::path::Path::new("/etc/sigillo/trust")));
        assert_eq!(c.web.trust_dir, c.trust_dir);
        assert_eq!(from_vars(complete()).unwrap().0.web.trust_dir, None);
    }

    #[test]
    fn revocation_is_online_unless_set_offline() {
        use sigillo_revocation::Mode;
        assert_eq!(from_vars(complete()).unwrap().0.revocation, Mode::Online);
        let (c, unknown) = from_vars(complete_and(&[("SIGILLO_REVOCATION", "offline")])).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(c.revocation, Mode::Offline);
        let err = from_vars(complete_and(&[("SIGILLO_REVOCATION", "sometimes")])).unwrap_err().to_string();
        assert!(err.contains("SIGILLO_REVOCATION") && err.contains("online or offline"), "{err}");
    }

    #[test]
    fn trusted_lists_are_on_once_their_signers_are_given() {
        let dir = tempfile::tempdir().unwrap();
        let signers = dir.path().join("lotl-signers.pem");
        std::fs::write(&signers, sigillo_testpki::Ca::new_root("Firmatario della LOTL").cert_pem()).unwrap();
        let pem = signers.to_string_lossy().into_owned();
        let list = |extra: &[(&str, &str)]| from_vars(complete_and(extra)).map(|(c, _)| c.trusted_list);
        assert_eq!(list(&[]).unwrap(), None, "no signers: off, nothing fetched");
        assert_eq!(
            list(&[("SIGILLO_TRUSTED_LIST_SIGNERS", &pem)]).unwrap(),
            Some(TrustedListConfig { url: EU_LOTL_URL.to_owned(), signers: signers.clone() })
        );
        let own = list(&[("SIGILLO_TRUSTED_LIST_URL", "http://127.0.0.1:9/lotl.xml"), ("SIGILLO_TRUSTED_LIST_SIGNERS", &pem)]).unwrap();
        assert_eq!(own.unwrap().url, "http://127.0.0.1:9/lotl.xml");
        for off in ["", " ", "off"] {
            assert_eq!(list(&[("SIGILLO_TRUSTED_LIST_URL", off), ("SIGILLO_TRUSTED_LIST_SIGNERS", &pem)]).unwrap(), None, "{off:?}");
        }
        let e = list(&[("SIGILLO_TRUSTED_LIST_URL", "https://example.invalid/lotl.xml")]).unwrap_err();
        assert!(e.to_string().starts_with("SIGILLO_TRUSTED_LIST_SIGNERS is missing"), "{e}");
        let e = list(&[("SIGILLO_TRUSTED_LIST_URL", "ftp://x"), ("SIGILLO_TRUSTED_LIST_SIGNERS", &pem)]).unwrap_err();
        assert!(e.to_string().starts_with("SIGILLO_TRUSTED_LIST_URL is malformed"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = list(&[("SIGILLO_TRUSTED_LIST_SIGNERS", &missing.to_string_lossy())]).unwrap_err().to_string();
        assert!(e.starts_with("SIGILLO_TRUSTED_LIST_SIGNERS is malformed") && e.contains("missing.pem") && e.contains("file inesistente"), "{e}");
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let vars = [
            ("SIGILLO_DATABASE_URL", "postgres://sigillo:Db-Pw-4711@db.example.it:5432/sigillo"),
            ("SIGILLO_DATA_DIR", "/var/lib/sigillo"),
            ("SIGILLO_IPA_CODE", "c_h501"),
            ("SIGILLO_AOO_CODE", "A1B2C3D"),
            ("SIGILLO_IMAP_URL", "imaps://imaps.pec.example.it"),
            ("SIGILLO_IMAP_USER", "protocollo@pec.comune.example.it"),
            ("SIGILLO_IMAP_PASSWORD", "Imap-Pw-One-0815"),
            ("SIGILLO_IMAP_MAILBOXES", "INBOX, Archivio PEC"),
            ("SIGILLO_IMAP_2_URL", "imaps://imaps.altro-gestore.example.it:994"),
            ("SIGILLO_IMAP_2_USER", "suap@pec.comune.example.it"),
            ("SIGILLO_IMAP_2_PASSWORD", "Imap-Pw-Two-4242"),
            ("SIGILLO_NOTIFY_FROM", "protocollo@pec.comune.example.it"),
            ("SIGILLO_ENTE_NAME", "Comune di Esempio"),
            ("SIGILLO_SMTP_URL", "smtps://smtps.pec.example.it"),
            ("SIGILLO_SMTP_USER", "protocollo@pec.comune.example.it"),
            ("SIGILLO_SMTP_PASSWORD", "Smtp-Pw-1337"),
            ("SIGILLO_SEAL_CERT", "/etc/sigillo/seal-cert.pem"),
            ("SIGILLO_SEAL_KEY", "/etc/sigillo/seal-key.pem"),
        ];
        let (c, unknown) = from_vars(vars.map(|(k, v)| (k.to_owned(), v.to_owned()))).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let printed = format!("{c:?}");
        let pretty = format!("{c:#?}");
        for secret in ["Db-Pw-4711", "Imap-Pw-One-0815", "Imap-Pw-Two-4242", "Smtp-Pw-1337"] {
            assert!(!printed.contains(secret) && !pretty.contains(secret), "{secret} printed: {printed}");
        }
        // What is not secret is still there to read.
        assert!(printed.contains("suap@pec.comune.example.it") && printed.contains("seal-key.pem"), "{printed}");

        // Each part parsed as before: the secrets are kept, only hidden.
        assert_eq!(c.database_url.expose_secret(), "postgres://sigillo:Db-Pw-4711@db.example.it:5432/sigillo");
        let passwords: Vec<_> = c.mailboxes.iter().map(|m| (m.mailbox.as_str(), m.password.expose_secret())).collect();
        assert_eq!(passwords, [("INBOX", "Imap-Pw-One-0815"), ("Archivio PEC", "Imap-Pw-One-0815"), ("INBOX", "Imap-Pw-Two-4242")]);
        let n = c.notify.unwrap();
        let (user, password) = n.smtp.unwrap().credentials.unwrap();
        assert_eq!((user.as_str(), password.expose_secret()), ("protocollo@pec.comune.example.it", "Smtp-Pw-1337"));
        assert_eq!(n.seal.unwrap().1, PathBuf::from("/etc/sigillo/seal-key.pem"));
    }

    #[test]
    fn the_sample_and_the_known_list_agree() {
        let sample = include_str!("../../../.env.sample");
        let set: Vec<&str> = sample
            .lines()
            .map(|l| l.trim_start_matches(['#', ' ']))
            .filter_map(|l| l.split_once('=').map(|(name, _)| name))
            .filter(|name| name.starts_with("SIGILLO_"))
            .collect();
        assert!(set.len() > 40, "{set:?}");
        for name in &set {
            assert!(is_known(name), "{name} is in .env.sample but not known");
        }
        // The numbered accounts are described once, by the first one's names.
        for name in KNOWN.iter().chain(&ACCOUNTS[0].names()) {
            assert!(set.contains(name), "{name} is known but not in .env.sample");
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
