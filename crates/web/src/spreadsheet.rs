//! The register's CSV as a clerk opens it in a spreadsheet (Excel in Italian): a UTF-8 BOM so
//! accents survive, `;` as separator (Italian Excel reads `,` as the decimal comma), Italian
//! headers, times in the register's zone, and every cell that a spreadsheet would read as a
//! formula (`= + - @`, TAB, CR) prefixed with an apostrophe (OWASP "CSV injection"), bidi and
//! control characters shown as `[U+202E]`.
//!
//! It is made from the archival CSV (`sigillo_store::export`, the stored file of a closed
//! day), cell by cell, so it always says what the archival file says; the archival file
//! itself is never changed and stays downloadable (`/registro.csv?formato=archivio`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::format::visible;

/// The archival column names, in Italian.
fn header_it(name: &str) -> &str {
    match name {
        "record" => "Tipo di riga",
        "number" => "Numero",
        "year" => "Anno",
        "segnatura" => "Segnatura",
        "registered_at" => "Data e ora di registrazione",
        "received_at" => "Data e ora di ricezione",
        "direction" => "Direzione",
        "correspondent_name" => "Mittente",
        "correspondent_address" => "Indirizzo del mittente",
        "subject" => "Oggetto",
        "sender_protocol_number" => "Protocollo del mittente",
        "sender_protocol_date" => "Data del protocollo del mittente",
        "document_sha256" => "Impronte SHA-256 dei documenti",
        "annulled" => "Annullata",
        "annulled_at" => "Data e ora di annullamento",
        "annulled_by" => "Annullata da",
        "annulment_reason" => "Motivo dell'annullamento",
        "authorising_act" => "Provvedimento di autorizzazione",
        "flags" => "Segnalazioni",
        "assigned_at" => "Data e ora di assegnazione",
        "assigned_by" => "Assegnata da",
        "office" => "Ufficio",
        "assignment_note" => "Nota di assegnazione",
        "channel" => "Canale",
        "paper_delivery" => "Modalità di consegna (carta)",
        "paper_attachments" => "Allegati cartacei",
        "correspondents" => "Corrispondenti",
        other => other,
    }
}

/// One archival cell as the spreadsheet shows it.
fn cell(column: &str, value: &str, tz: Tz) -> String {
    let value = match (column, value) {
        ("registered_at" | "received_at" | "annulled_at" | "assigned_at", v) if !v.is_empty() => match v.parse::<DateTime<Utc>>() {
            Ok(t) => t.with_timezone(&tz).format("%d/%m/%Y %H:%M:%S").to_string(),
            Err(_) => v.to_owned(),
        },
        ("annulled", "true") => "sì".to_owned(),
        ("annulled", "false") => "no".to_owned(),
        ("direction", "incoming") => "in arrivo".to_owned(),
        ("direction", "outgoing") => "in partenza".to_owned(),
        ("direction", "internal") => "interna".to_owned(),
        ("channel", v) => crate::format::channel_it(v).to_owned(),
        ("paper_delivery", v) if !v.is_empty() => crate::format::paper_delivery_it(v).to_owned(),
        (_, v) => visible(v),
    };
    neutralise(value)
}

/// A cell a spreadsheet would evaluate becomes text: a leading apostrophe, which Excel and
/// LibreOffice hide and which makes the rest literal.
pub fn neutralise(value: String) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value,
    }
}

/// The spreadsheet form of an archival CSV export.
pub fn from_archival(archival: &[u8], tz: Tz) -> Result<Vec<u8>, csv::Error> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(archival);
    let columns: Vec<String> = r.headers()?.iter().map(str::to_owned).collect();
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::WriterBuilder::new().delimiter(b';').terminator(csv::Terminator::CRLF).from_writer(&mut out);
        w.write_record(columns.iter().map(|c| header_it(c)))?;
        for record in r.records() {
            let record = record?;
            w.write_record(record.iter().zip(&columns).map(|(v, c)| cell(c, v, tz)))?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_the_file_opens_in_italian_excel() {
        let archival = "record,number,registered_at,subject,annulment_reason,annulled\n\
                        registrazione,1,2026-11-20T10:00:00.000000Z,\"=HYPERLINK(\"\"http://x\"\",\"\"a\"\")\",,false\n\
                        annullamento,1,,l\u{202E}ognul,+SUM(1;2),true\n";
        let out = from_archival(archival.as_bytes(), chrono_tz::Europe::Rome).unwrap();
        assert!(out.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(out[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "Tipo di riga;Numero;Data e ora di registrazione;Oggetto;Motivo dell'annullamento;Annullata");
        assert_eq!(lines[1], "registrazione;1;20/11/2026 11:00:00;\"'=HYPERLINK(\"\"http://x\"\",\"\"a\"\")\";;no");
        assert_eq!(lines[2], "annullamento;1;;l[U+202E]ognul;\"'+SUM(1;2)\";sì");
        for v in ["-1", "@x", "\tx", "\rx"] {
            assert!(neutralise(v.to_owned()).starts_with('\''), "{v:?}");
        }
        assert_eq!(neutralise("Mario".to_owned()), "Mario");
    }
}
