//! The simulator's PKI on disk: a PEC provider CA and signing certificate, a signature CA
//! with citizens' and the comune's certificates, and the trust directory Sigillo reads.
//! Layout in the crate README.

use std::path::{Path, PathBuf};

use chrono::{Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sigillo_testpki::{Ca, CaSpec, KeyKind, Leaf, LeafSpec, PrivateKey, pem_decode};

use crate::error::Error;

/// What `pki.json` records besides the PEM files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// The provider's own domain: `posta-certificata@DOMAIN` signs and sends envelopes.
    pub provider_domain: String,
    /// `gestore-emittente` of daticert.xml.
    pub gestore: String,
    /// The PEC domains given to `pki init` (citizens' addresses use the first).
    pub domains: Vec<String>,
    pub citizens: Vec<CitizenMeta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CitizenMeta {
    /// Directory name and local part, e.g. `mario.rossi`.
    pub name: String,
    pub given_name: String,
    pub surname: String,
    /// Subject serialNumber, `TINIT-` + codice fiscale.
    pub serial_number: String,
    pub email: String,
}

/// The PKI loaded from disk.
pub struct Pki {
    pub dir: PathBuf,
    pub meta: Meta,
    /// The provider's signing certificate (envelopes and receipts), with its chain.
    pub provider: Leaf,
}

pub const DEFAULT_DOMAIN: &str = "pec.sim.test";
const GESTORE: &str = "Sigillo PEC Sim S.p.A.";

const CITIZENS: [(&str, &str, &str, &str); 3] = [
    ("mario.rossi", "Mario", "Rossi", "TINIT-RSSMRA80A01H501U"),
    ("giulia.bianchi", "Giulia", "Bianchi", "TINIT-BNCGLI85M41F205X"),
    ("luca.verdi", "Luca", "Verdi", "TINIT-VRDLCU90C15L219K"),
];

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::write(path, text).map_err(Error::io(path))
}

fn write_key(path: &Path, key: &PrivateKey) -> Result<(), Error> {
    write(path, &key.to_pkcs8_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(Error::io(path))?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(Error::io(path))
}

fn bad(path: &Path, why: impl Into<String>) -> Error {
    Error::BadPki { path: path.to_owned(), why: why.into() }
}

/// Every certificate of a PEM file, DER, in order.
pub fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let blocks = pem_decode(&read(path)?).map_err(|e| bad(path, e))?;
    let certs: Vec<Vec<u8>> = blocks.into_iter().filter(|(l, _)| l == "CERTIFICATE").map(|(_, d)| d).collect();
    if certs.is_empty() {
        return Err(bad(path, "nessun certificato"));
    }
    Ok(certs)
}

pub fn read_key(path: &Path) -> Result<PrivateKey, Error> {
    PrivateKey::from_pkcs8_pem(&read(path)?).map_err(|e| bad(path, e))
}

/// A leaf from `cert.pem` (leaf first, then its issuers) and `key.pem`.
pub fn read_leaf(cert: &Path, key: &Path) -> Result<Leaf, Error> {
    let mut certs = read_certs(cert)?;
    let cert_der = certs.remove(0);
    Ok(Leaf { cert_der, key: read_key(key)?, chain: certs })
}

/// Options of `pki init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub domains: Vec<String>,
    pub force: bool,
    /// Take RSA keys from testpki's embedded pool instead of generating them: fast, but the
    /// keys are public, so only for throw-away PKIs in tests.
    pub pool_keys: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions { domains: vec![DEFAULT_DOMAIN.to_owned()], force: false, pool_keys: false }
    }
}

/// `pki init DIR`: writes a new PKI. Refuses when `DIR/pki.json` exists, unless `force`.
pub fn init(dir: &Path, opts: &InitOptions) -> Result<Pki, Error> {
    let meta_path = dir.join("pki.json");
    if meta_path.exists() && !opts.force {
        return Err(Error::PkiExists(dir.to_owned()));
    }
    let domains = if opts.domains.is_empty() { vec![DEFAULT_DOMAIN.to_owned()] } else { opts.domains.clone() };
    let first = domains[0].clone();
    let mut pool = 0usize;
    let mut key = || {
        if opts.pool_keys {
            pool += 1;
            PrivateKey::rsa_from_pool(pool - 1)
        } else {
            PrivateKey::generate(KeyKind::Rsa2048)
        }
    };
    let now = Utc::now().trunc_subsecs(0);
    let (start, ca_end, leaf_end) = (now - Duration::days(1), now + Duration::days(3650), now + Duration::days(1825));
    let ca_spec = |cn: &str| CaSpec { not_before: Some(start), not_after: Some(ca_end), ..CaSpec::new(cn) };

    let provider_ca = Ca::new_root_with_key(ca_spec("Sigillo PEC Sim - CA dei gestori PEC"), key());
    let provider_email = format!("posta-certificata@{first}");
    let provider = provider_ca
        .issue_with_key(LeafSpec::pec_provider(GESTORE, &provider_email).validity(start, leaf_end), key());
    let sig_ca = Ca::new_root_with_key(ca_spec("Sigillo PEC Sim - CA firme qualificate"), key());

    write(&dir.join("provider/ca-cert.pem"), &provider_ca.cert_pem())?;
    write_key(&dir.join("provider/ca-key.pem"), provider_ca.key())?;
    write(&dir.join("provider/cert.pem"), &format!("{}{}", provider.cert_pem(), provider_ca.cert_pem()))?;
    write_key(&dir.join("provider/key.pem"), &provider.key)?;
    write(&dir.join("signatures/ca-cert.pem"), &sig_ca.cert_pem())?;
    write_key(&dir.join("signatures/ca-key.pem"), sig_ca.key())?;
    write(&dir.join("trust/pec/provider-ca.pem"), &provider_ca.cert_pem())?;
    write(&dir.join("trust/signatures/signatures-ca.pem"), &sig_ca.cert_pem())?;

    let mut citizens = Vec::new();
    for (name, given, surname, serial) in CITIZENS {
        let email = format!("{name}@{first}");
        let spec = LeafSpec { email: Some(email.clone()), ..LeafSpec::person(given, surname, serial) };
        let leaf = sig_ca.issue_with_key(spec.validity(start, leaf_end), key());
        write(&dir.join(format!("citizens/{name}/cert.pem")), &format!("{}{}", leaf.cert_pem(), sig_ca.cert_pem()))?;
        write_key(&dir.join(format!("citizens/{name}/key.pem")), &leaf.key)?;
        citizens.push(CitizenMeta {
            name: name.to_owned(),
            given_name: given.to_owned(),
            surname: surname.to_owned(),
            serial_number: serial.to_owned(),
            email,
        });
    }

    // The comune's electronic seal, for Segnatura.xml: an organisation certificate.
    let seal_spec = LeafSpec {
        organization: Some("Comune di Esempio".to_owned()),
        serial_number: Some("VATIT-00000000000".to_owned()),
        digital_signature: true,
        ..LeafSpec::new("Comune di Esempio - Sigillo elettronico")
    };
    let seal = sig_ca.issue_with_key(seal_spec.validity(start, leaf_end), key());
    write(&dir.join("comune/seal-cert.pem"), &format!("{}{}", seal.cert_pem(), sig_ca.cert_pem()))?;
    write_key(&dir.join("comune/seal-key.pem"), &seal.key)?;

    let meta = Meta { provider_domain: first, gestore: GESTORE.to_owned(), domains, citizens };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| bad(&meta_path, e.to_string()))?;
    // Written last: its presence means the PKI is complete.
    write(&meta_path, &(json + "\n"))?;
    Ok(Pki { dir: dir.to_owned(), meta, provider })
}

impl Pki {
    /// Loads `DIR/pki.json` and the provider's certificate and key.
    pub fn load(dir: &Path) -> Result<Pki, Error> {
        let meta_path = dir.join("pki.json");
        let meta: Meta = serde_json::from_str(&read(&meta_path)?).map_err(|e| bad(&meta_path, e.to_string()))?;
        let provider = read_leaf(&dir.join("provider/cert.pem"), &dir.join("provider/key.pem"))?;
        Ok(Pki { dir: dir.to_owned(), meta, provider })
    }

    /// A citizen's signing certificate and key, by directory name (`mario.rossi`).
    pub fn citizen(&self, name: &str) -> Result<Leaf, Error> {
        let safe = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
        let dir = self.dir.join("citizens").join(name);
        if !safe || name.starts_with('.') || !dir.is_dir() {
            return Err(Error::UnknownSigner(name.to_owned()));
        }
        read_leaf(&dir.join("cert.pem"), &dir.join("key.pem"))
    }

    /// The trust directory for `sigillo check --trust` / `SIGILLO_TRUST_DIR`.
    pub fn trust_dir(&self) -> PathBuf {
        self.dir.join("trust")
    }
}
