//! Italian presentation: dates, numbers, sizes, and signature reports in plain words.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// `22/11/2026 14:03` in the register's time zone.
pub fn datetime_it(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

pub fn date_it(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// A count that stopped at its limit: `1.000+`.
pub fn counted_it(c: sigillo_store::assignment::Counted) -> String {
    if c.more { format!("{}+", int_it(c.count)) } else { int_it(c.count) }
}

/// `1.234.567`: Italian digit grouping.
pub fn int_it(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// `12,3 kB`: decimal comma, SI units.
/// A channel's name (`pec`, `carta`, …) for people.
pub fn channel_it(channel: &str) -> &str {
    match channel {
        "pec" => "PEC",
        "peo" => "e-mail ordinaria",
        "carta" => "carta",
        "fax" => "fax",
        "altro" => "altro",
        other => other,
    }
}

/// A paper delivery's name (`consegna_a_mano`, …) for people.
pub fn paper_delivery_it(kind: &str) -> &str {
    match kind {
        "consegna_a_mano" => "consegna a mano",
        "posta" => "posta ordinaria",
        "raccomandata" => "raccomandata",
        other => other,
    }
}

/// A direction for people.
pub fn direction_it(d: sigillo_store::register::Direction) -> &'static str {
    use sigillo_store::register::Direction;
    match d {
        Direction::Incoming => "In arrivo",
        Direction::Outgoing => "In partenza",
        Direction::Internal => "Interna",
    }
}

pub fn size_it(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    let (value, unit) = if b < 1_000.0 {
        return format!("{} byte", int_it(bytes));
    } else if b < 1_000_000.0 {
        (b / 1_000.0, "kB")
    } else if b < 1_000_000_000.0 {
        (b / 1_000_000.0, "MB")
    } else {
        (b / 1_000_000_000.0, "GB")
    };
    format!("{value:.1} {unit}").replace('.', ",")
}

/// Citizen-supplied text as the staff must see it: a bidi control (U+202A–U+202E,
/// U+2066–U+2069, U+200E/U+200F, U+061C) or any other control or invisible format character
/// becomes a visible `[U+202E]`, so that "lungo" cannot display as "ognul" and `fattura<U+202E>fdp.exe`
/// cannot pass for a PDF. Only the plain space is kept as it is; the stored data never changes.
pub fn visible(s: &str) -> String {
    if !s.chars().any(needs_marker) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if needs_marker(c) {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_marker(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        // zero-width and other invisible format characters that can hide or reorder text
        | '\u{200B}'..='\u{200D}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
        | '\u{00AD}' | '\u{180E}' | '\u{FFF9}'..='\u{FFFB}')
        || c.is_control()
}

/// The templates' filters: `{{ r.subject|visible }}` on every text a citizen wrote.
pub mod filters {
    #[askama::filter_fn]
    pub fn visible(s: impl ToString, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::visible(&s.to_string()))
    }
}

/// One signer as the record page shows it.
#[derive(Debug, Clone)]
pub struct SignerView {
    pub name: String,
    pub fiscal_code: String,
    pub ca: String,
    pub signing_time: String,
    pub verdict: String,
    /// A qualified electronic signature (ETSI TS 119 615: QC statements and a CA/QC
    /// service of a trusted list).
    pub qualified: bool,
    /// The trusted-list service the signer chained to: "servizio: NAME (IT)".
    pub service: Option<String>,
}

/// A signature report in plain Italian.
#[derive(Debug, Clone)]
pub struct SignatureView {
    pub verdict: String,
    /// Bootstrap contextual class: success, danger, warning, secondary.
    pub class: &'static str,
    pub explanation: String,
    pub format: String,
    pub signers: Vec<SignerView>,
}

fn verdict_it(v: &str) -> (&'static str, &'static str) {
    match v {
        "TOTAL_PASSED" => ("Firma valida", "success"),
        "TOTAL_FAILED" => ("Firma non valida", "danger"),
        "INDETERMINATE" => ("Esito non determinabile", "warning"),
        "NO_SIGNATURE_FOUND" => ("Documento non firmato", "secondary"),
        _ => ("Esito sconosciuto", "secondary"),
    }
}

fn subindication_it(s: &str) -> &'static str {
    match s {
        "HASH_FAILURE" => "il documento è stato modificato dopo la firma",
        "SIG_CRYPTO_FAILURE" => "la verifica crittografica della firma non è riuscita",
        "FORMAT_FAILURE" => "il formato della busta di firma non è corretto",
        "REVOKED" => "il certificato del firmatario risulta revocato",
        "REVOKED_NO_POE" => "il certificato del firmatario risulta revocato prima del momento della verifica",
        "TRY_LATER" => "lo stato di revoca del certificato non è ottenibile ora (servizio OCSP/CRL non raggiungibile)",
        "EXPIRED" | "OUT_OF_BOUNDS_NO_POE" | "OUT_OF_BOUNDS_NOT_REVOKED" => {
            "il certificato del firmatario era scaduto o non ancora valido al momento della verifica"
        }
        "NOT_YET_VALID" => "il certificato del firmatario non era ancora valido",
        "NO_SIGNING_CERTIFICATE_FOUND" => "il certificato del firmatario non è presente",
        "NO_CERTIFICATE_CHAIN_FOUND" => "il certificato non è emesso da un'autorità di certificazione riconosciuta",
        "CRYPTO_CONSTRAINTS_FAILURE" | "CRYPTO_CONSTRAINTS_FAILURE_NO_POE" => {
            "la firma usa un algoritmo non più considerato sicuro"
        }
        "FORMAT_NOT_SUPPORTED" => "il formato di firma non è ancora verificabile automaticamente",
        "SIGNED_DATA_NOT_FOUND" => "il contenuto firmato non è stato trovato",
        "CHAIN_CONSTRAINTS_FAILURE" | "CERTIFICATE_CHAIN_GENERAL_FAILURE" | "SIG_CONSTRAINTS_FAILURE" => {
            "la catena dei certificati non rispetta i requisiti"
        }
        _ => "motivo non classificato",
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned).filter(|s| !s.is_empty())
}

fn time(v: &Value, key: &str, tz: Tz) -> Option<String> {
    text(v, key).and_then(|s| s.parse::<DateTime<Utc>>().ok()).map(|t| datetime_it(t, tz))
}

/// The report stored with a document (the `signature` crate's JSON), in plain Italian.
pub fn signature_view(report: &Value, tz: Tz) -> SignatureView {
    let verdict_code = text(report, "verdict").unwrap_or_default();
    let (verdict, class) = verdict_it(&verdict_code);
    let explanation = match text(report, "subindication") {
        Some(sub) => format!("{}: {}.", verdict, subindication_it(&sub)),
        None if verdict_code == "TOTAL_PASSED" => {
            "Tutte le firme sono integre e i certificati sono emessi da autorità riconosciute.".to_owned()
        }
        None => format!("{verdict}."),
    };
    let signers = report
        .get("signers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    let name = match (text(s, "given_name"), text(s, "surname")) {
                        (Some(g), Some(f)) => format!("{g} {f}"),
                        _ => text(s, "common_name").or_else(|| text(s, "subject")).unwrap_or_else(|| "non indicato".into()),
                    };
                    SignerView {
                        name,
                        fiscal_code: text(s, "fiscal_code").unwrap_or_else(|| "non indicato".into()),
                        ca: text(s, "issuer").unwrap_or_else(|| "non indicata".into()),
                        signing_time: time(s, "timestamp_time", tz)
                            .map(|t| format!("{t} (marca temporale)"))
                            .or_else(|| time(s, "signing_time", tz).map(|t| format!("{t} (dichiarata dal firmatario)")))
                            .unwrap_or_else(|| "non indicata".into()),
                        verdict: verdict_it(&text(s, "verdict").unwrap_or_default()).0.to_owned(),
                        qualified: s.get("qualified_signature").and_then(Value::as_bool).unwrap_or(false),
                        service: s.get("trust_service").and_then(|t| {
                            let name = text(t, "name")?;
                            Some(match text(t, "territory") {
                                Some(territory) => format!("servizio: {name} ({territory})"),
                                None => format!("servizio: {name}"),
                            })
                        }),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    SignatureView {
        verdict: verdict.to_owned(),
        class,
        explanation,
        format: text(report, "format").unwrap_or_else(|| "—".into()),
        signers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sizes_are_italian() {
        assert_eq!(int_it(0), "0");
        assert_eq!(int_it(1234), "1.234");
        assert_eq!(int_it(1_000_000), "1.000.000");
        assert_eq!(int_it(-12345), "-12.345");
        assert_eq!(size_it(999), "999 byte");
        assert_eq!(size_it(12_345), "12,3 kB");
        assert_eq!(size_it(2_500_000), "2,5 MB");
    }

    #[test]
    fn bidi_and_control_characters_are_shown() {
        assert_eq!(visible("Richiesta di accesso"), "Richiesta di accesso");
        assert_eq!(visible("l\u{202E}ognul"), "l[U+202E]ognul");
        assert_eq!(visible("fattura\u{202E}fdp.exe"), "fattura[U+202E]fdp.exe");
        assert_eq!(visible("a\u{2066}b\u{2069}\u{200F}\u{061C}"), "a[U+2066]b[U+2069][U+200F][U+061C]");
        assert_eq!(visible("a\tb\r\nc\u{0}"), "a[U+0009]b[U+000D][U+000A]c[U+0000]");
        assert_eq!(visible("città 東京 مرحبا 👍"), "città 東京 مرحبا 👍");
    }

    #[test]
    fn a_qualified_signer_names_its_trust_service() {
        let report = serde_json::json!({
            "verdict": "TOTAL_PASSED", "format": "CAdES",
            "signers": [
                {"common_name": "ROSSI MARIO", "verdict": "TOTAL_PASSED", "qualified_signature": true,
                 "trust_service": {"name": "Firma Qualificata CA", "provider": "Test S.p.A.", "territory": "IT",
                                   "type": "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"}},
                {"common_name": "BIANCHI ANNA", "verdict": "TOTAL_PASSED", "qualified_signature": false, "trust_service": null}
            ]
        });
        let v = signature_view(&report, chrono_tz::Europe::Rome);
        assert!(v.signers[0].qualified);
        assert_eq!(v.signers[0].service.as_deref(), Some("servizio: Firma Qualificata CA (IT)"));
        assert!(!v.signers[1].qualified);
        assert_eq!(v.signers[1].service, None);
    }

    #[test]
    fn a_failed_signature_is_explained_in_italian() {
        let report = serde_json::json!({
            "verdict": "TOTAL_FAILED", "subindication": "HASH_FAILURE", "format": "CAdES",
            "signers": [{"given_name": "Mario", "surname": "Rossi", "fiscal_code": "RSSMRA80A01H501U",
                         "issuer": "Test Qualified CA", "signing_time": "2026-11-20T10:00:00Z",
                         "verdict": "TOTAL_FAILED"}]
        });
        let v = signature_view(&report, chrono_tz::Europe::Rome);
        assert_eq!(v.verdict, "Firma non valida");
        assert!(v.explanation.contains("modificato dopo la firma"));
        assert_eq!(v.signers[0].name, "Mario Rossi");
        assert_eq!(v.signers[0].signing_time, "20/11/2026 11:00 (dichiarata dal firmatario)");
        assert!(!v.signers[0].qualified);
        assert_eq!(v.signers[0].service, None);
    }
}
