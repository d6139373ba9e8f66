//! The titolario's CSV import and the classification of registrations.
//!
//! # The CSV file
//!
//! UTF-8 (a byte-order mark is allowed), separated by `;` or `,` (whichever the header line
//! uses), with a header naming the columns `titolo`, `classe`, `sottoclasse`, `descrizione`
//! in any order. One row per entry: a titolo has only `titolo`; a classe has `titolo` and
//! `classe`; a sottoclasse all three. A parent comes before its children. Codes are 1-10
//! letters or digits (Roman numerals for titoli are usual); the flat code joins them with dots
//! (`VI.3`, `VI.3.2`), as `CodiceFlat` in Segnatura.xml. `docs/examples/titolario-comuni-2005.csv`
//! is the model titolario for comuni of the 2005 national working group.
//!
//! Every fault of the file is reported with its line and column, all at once, and nothing is
//! imported unless the whole file is right.
//!
//! # Classification
//!
//! A registration is classified against the version in force on the day it was registered
//! (in the register's time zone), with an entry that has nothing below it (a classe, a
//! sottoclasse, or a titolo without classi).

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use sigillo_store::PgPool;
use sigillo_store::ids::RegistrationId;
use sigillo_store::register::{Actor, Register};
use sigillo_store::titolario::{self as store, Entry, Level, NewEntry, NewVersion};
use sqlx::PgConnection;

use crate::Error;
use crate::desk::FieldError;

/// Largest CSV file accepted (the 2005 model is about 10 KB).
pub const MAX_CSV_BYTES: usize = 2 * 1024 * 1024;
/// Most errors listed for one file.
const MAX_ERRORS: usize = 50;
/// Longest description.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// A fault of the CSV file: its line (1 is the header), the column, the cause in Italian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "riga {}: {}", self.line, self.message)
        } else {
            write!(f, "riga {}, campo «{}»: {}", self.line, self.field, self.message)
        }
    }
}

const COLUMNS: [&str; 4] = ["titolo", "classe", "sottoclasse", "descrizione"];

fn code_ok(s: &str) -> bool {
    (1..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Reads the CSV file into entries, or every fault found (at most 50).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<NewEntry>, Vec<LineError>> {
    let err = |line: usize, field: &str, message: String| LineError { line, field: field.to_owned(), message };
    if bytes.len() > MAX_CSV_BYTES {
        return Err(vec![err(0, "", format!("il file supera {} MB", MAX_CSV_BYTES >> 20))]);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            return Err(vec![err(line, "", "il file non è in UTF-8 (lo salvi come «CSV UTF-8»)".into())]);
        }
    };
    let header = text.lines().next().unwrap_or("");
    let delimiter = if header.matches(';').count() >= header.matches(',').count() { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let mut records = reader.records();
    let columns: Vec<usize> = match records.next() {
        None => return Err(vec![err(1, "", "il file è vuoto: serve la riga di intestazione titolo;classe;sottoclasse;descrizione".into())]),
        Some(Err(e)) => return Err(vec![err(1, "", format!("intestazione illeggibile: {e}"))]),
        Some(Ok(h)) => {
            let names: Vec<String> = h.iter().map(|c| c.trim().to_lowercase()).collect();
            let mut idx = Vec::new();
            for col in COLUMNS {
                match names.iter().position(|n| n == col) {
                    Some(i) => idx.push(i),
                    None => errors.push(err(1, col, "colonna mancante nell'intestazione".into())),
                }
            }
            if let Some(extra) = names.iter().find(|n| !n.is_empty() && !COLUMNS.contains(&n.as_str())) {
                errors.push(err(1, extra, "colonna sconosciuta (sono ammesse titolo, classe, sottoclasse, descrizione)".into()));
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            idx
        }
    };
    let mut entries: Vec<NewEntry> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for record in records {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
                errors.push(err(line, "", format!("riga illeggibile: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |i: usize| record.get(columns[i]).unwrap_or("").trim();
        let (titolo, classe, sottoclasse, descrizione) = (get(0).to_uppercase(), get(1).to_uppercase(), get(2).to_uppercase(), get(3));
        let mut bad = false;
        for (field, value) in [("titolo", &titolo), ("classe", &classe), ("sottoclasse", &sottoclasse)] {
            if !value.is_empty() && !code_ok(value) {
                errors.push(err(line, field, format!("«{value}» non è un codice valido (da 1 a 10 lettere o cifre, senza spazi né punti)")));
                bad = true;
            }
        }
        if titolo.is_empty() {
            errors.push(err(line, "titolo", "manca il codice del titolo".into()));
            bad = true;
        }
        if !sottoclasse.is_empty() && classe.is_empty() {
            errors.push(err(line, "classe", "una sottoclasse deve indicare anche la sua classe".into()));
            bad = true;
        }
        if descrizione.is_empty() {
            errors.push(err(line, "descrizione", "manca la descrizione".into()));
            bad = true;
        } else if descrizione.chars().any(char::is_control) {
            errors.push(err(line, "descrizione", "contiene caratteri di controllo (a capo, tabulazioni o simili)".into()));
            bad = true;
        } else if descrizione.chars().count() > MAX_DESCRIPTION_CHARS {
            errors.push(err(line, "descrizione", format!("supera {MAX_DESCRIPTION_CHARS} caratteri")));
            bad = true;
        }
        if bad {
            continue;
        }
        let (code, level, parent, parent_field) = match (classe.is_empty(), sottoclasse.is_empty()) {
            (true, _) => (titolo.clone(), Level::Titolo, None, ""),
            (false, true) => (format!("{titolo}.{classe}"), Level::Classe, Some(titolo.clone()), "titolo"),
            (false, false) => (format!("{titolo}.{classe}.{sottoclasse}"), Level::Sottoclasse, Some(format!("{titolo}.{classe}")), "classe"),
        };
        if let Some(p) = &parent
            && !seen.contains_key(p)
        {
            let what = if level == Level::Classe { "il titolo" } else { "la classe" };
            errors.push(err(line, parent_field, format!("{what} {p} non è definito in una riga precedente")));
            continue;
        }
        if let Some(first) = seen.get(&code) {
            errors.push(err(line, level_field(level), format!("il codice {code} è già alla riga {first}")));
            continue;
        }
        seen.insert(code.clone(), line);
        entries.push(NewEntry { code, level, parent_code: parent, description: descrizione.to_owned() });
    }
    if errors.is_empty() && entries.is_empty() {
        errors.push(err(2, "", "il file non contiene voci dopo l'intestazione".into()));
    }
    if errors.is_empty() { Ok(entries) } else { Err(errors) }
}

fn level_field(level: Level) -> &'static str {
    match level {
        Level::Titolo => "titolo",
        Level::Classe => "classe",
        Level::Sottoclasse => "sottoclasse",
    }
}

/// A version to import, as the CLI or the upload form gives it.
#[derive(Debug, Clone)]
pub struct ImportInput {
    pub name: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub csv: Vec<u8>,
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub version_id: i64,
    pub entries: usize,
}

/// Checks the file and imports it as a new version in one transaction; the version in force
/// until then (if open and starting earlier) ends the day before.
pub async fn import(pool: &PgPool, register: &Register, actor: &Actor, input: ImportInput) -> Result<Imported, Error> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(FieldError::new("name", "il nome della versione è obbligatorio (al massimo 200 caratteri)")));
    }
    if let Some(to) = input.valid_to
        && to < input.valid_from
    {
        return Err(Error::Invalid(FieldError::new("valid_to", "la fine della validità precede il suo inizio")));
    }
    let entries = parse_csv(&input.csv).map_err(Error::Titolario)?;
    let new = NewVersion {
        name: name.to_owned(),
        valid_from: input.valid_from,
        valid_to: input.valid_to,
        source_sha256: Sha256::digest(&input.csv).into(),
        entries,
    };
    let mut tx = pool.begin().await.map_err(sigillo_store::Error::from)?;
    let version_id = match store::import_version(&mut tx, register, actor, &new).await {
        Ok(id) => id,
        Err(sigillo_store::Error::Invalid { field: "valid_from", reason }) => {
            return Err(Error::Invalid(FieldError::new(
                "valid_from",
                format!("il periodo di validità si sovrappone a un'altra versione ({reason})"),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await.map_err(sigillo_store::Error::from)?;
    tracing::info!(version_id, entries = new.entries.len(), "titolario version imported");
    Ok(Imported { version_id, entries: new.entries.len() })
}

/// The entry `code` of the version in force on `day`, if it may classify; otherwise why not,
/// as a fault of `field`.
pub async fn resolve(
    conn: &mut PgConnection,
    register: &Register,
    day: NaiveDate,
    code: &str,
    field: &str,
) -> Result<Entry, Error> {
    let code = code.trim();
    let refuse = |m: String| Error::Invalid(FieldError::new(field, m));
    if code.is_empty() {
        return Err(refuse("scelga una classe del titolario".into()));
    }
    let Some(version) = store::version_on(conn, register, day).await? else {
        return Err(refuse(format!("nessuna versione del titolario è in vigore il {}", day.format("%d/%m/%Y"))));
    };
    let Some(entry) = store::entry_by_code(conn, version.id, code).await? else {
        return Err(refuse(format!("la classe «{code}» non esiste nel titolario in vigore («{}»)", version.name)));
    };
    if !entry.leaf {
        return Err(refuse(format!(
            "«{} {}» ha classi o sottoclassi: scelga una di quelle",
            entry.code, entry.description
        )));
    }
    Ok(entry)
}

/// The day of a registration in the register's calendar.
pub fn day_of(register: &Register, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&register.timezone).date_naive()
}

/// Classifies a registration, or changes its class with a reason, in one transaction:
/// the history row, the current class, the backlog and the audit entry.
pub async fn classify(
    pool: &PgPool,
    register: &Register,
    registration: RegistrationId,
    code: &str,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<Entry, Error> {
    let mut tx = pool.begin().await.map_err(sigillo_store::Error::from)?;
    let (registered_at, annulled) = store::registration_state(&mut tx, register, registration).await?;
    if annulled {
        return Err(Error::Invalid(FieldError::new("classification", "la registrazione è annullata: non si classifica più")));
    }
    let entry = resolve(&mut tx, register, day_of(register, registered_at), code, "classification").await?;
    match store::classify(&mut tx, registration, entry.id, actor, reason).await {
        Ok(()) => {}
        Err(sigillo_store::Error::Invalid { field: "reason", .. }) => {
            return Err(Error::Invalid(FieldError::new("reason", "per cambiare la classe serve il motivo")));
        }
        Err(sigillo_store::Error::Invalid { field: "class", .. }) => {
            return Err(Error::Invalid(FieldError::new("classification", "la registrazione ha già questa classe")));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await.map_err(sigillo_store::Error::from)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_reads_into_flat_codes() {
        let csv = "titolo;classe;sottoclasse;descrizione\nI;;;Amministrazione generale\nI;1;;Legislazione\nI;1;2;Circolari\nxiv;;;Oggetti diversi\n";
        let e = parse_csv(csv.as_bytes()).unwrap();
        let codes: Vec<_> = e.iter().map(|e| (e.code.as_str(), e.level, e.parent_code.as_deref())).collect();
        assert_eq!(
            codes,
            [
                ("I", Level::Titolo, None),
                ("I.1", Level::Classe, Some("I")),
                ("I.1.2", Level::Sottoclasse, Some("I.1")),
                ("XIV", Level::Titolo, None)
            ]
        );
    }

    #[test]
    fn commas_quotes_and_a_bom_are_read() {
        let csv = "\u{feff}Descrizione,Titolo,Classe,Sottoclasse\n\"Organi, di governo\",II,,\n";
        let e = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(e[0].description, "Organi, di governo");
        assert_eq!(e[0].code, "II");
    }

    #[test]
    fn every_bad_line_is_named_with_its_field() {
        let csv = "titolo;classe;sottoclasse;descrizione\nI;;;Amministrazione\nI;1;;\nII;1;;Orfana\nI;1 2;;Spazio\nI;;;Di nuovo\n;;3;Senza titolo\n";
        let errs = parse_csv(csv.as_bytes()).unwrap_err();
        let got: Vec<_> = errs.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(got, [(3, "descrizione"), (4, "titolo"), (5, "classe"), (6, "titolo"), (7, "titolo"), (7, "classe")]);
        assert_eq!(errs[4].to_string(), "riga 7, campo «titolo»: manca il codice del titolo");
        assert!(errs[3].message.contains("riga 2"), "{}", errs[3].message);
    }

    #[test]
    fn a_missing_column_and_other_encodings_are_refused() {
        let errs = parse_csv(b"titolo;descrizione\nI;X\n").unwrap_err();
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["classe", "sottoclasse"]);
        let errs = parse_csv(b"titolo;classe;sottoclasse;descrizione\nI;;;Attivit\xe0\n").unwrap_err();
        assert_eq!(errs[0].line, 2);
        assert!(parse_csv(b"").is_err());
        assert!(parse_csv(b"titolo;classe;sottoclasse;descrizione\n").is_err());
    }

    #[test]
    fn the_2005_model_for_comuni_reads_whole() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/titolario-comuni-2005.csv");
        let e = parse_csv(&std::fs::read(path).unwrap()).unwrap();
        let titoli: Vec<_> = e.iter().filter(|e| e.level == Level::Titolo).map(|e| e.code.as_str()).collect();
        assert_eq!(titoli, ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV"]);
        let vi3 = e.iter().find(|e| e.code == "VI.3").unwrap();
        assert_eq!(vi3.description, "Edilizia privata");
    }
}
