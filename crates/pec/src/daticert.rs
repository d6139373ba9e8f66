//! `daticert.xml`: the certification data a provider puts in every envelope and receipt
//! (DTD in `shared/specs/daticert/daticert.dtd`).
//!
//! Parsing is lenient on purpose: real files deviate from the DTD (stray text, missing
//! optional elements), and a deviation must become a warning the office can read, not a
//! message stuck in the intake loop.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use serde::Serialize;

use crate::error::PecError;
use crate::kind::ReceiptKind;

/// `postacert/@tipo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tipo {
    Accettazione,
    NonAccettazione,
    PresaInCarico,
    AvvenutaConsegna,
    PostaCertificata,
    ErroreConsegna,
    PreavvisoErroreConsegna,
    RilevazioneVirus,
    #[serde(untagged)]
    Other(String),
}

impl Tipo {
    fn parse(v: &str) -> Self {
        match v.trim() {
            "accettazione" => Self::Accettazione,
            "non-accettazione" => Self::NonAccettazione,
            "presa-in-carico" => Self::PresaInCarico,
            "avvenuta-consegna" => Self::AvvenutaConsegna,
            "posta-certificata" => Self::PostaCertificata,
            "errore-consegna" => Self::ErroreConsegna,
            "preavviso-errore-consegna" => Self::PreavvisoErroreConsegna,
            "rilevazione-virus" => Self::RilevazioneVirus,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Accettazione => "accettazione",
            Self::NonAccettazione => "non-accettazione",
            Self::PresaInCarico => "presa-in-carico",
            Self::AvvenutaConsegna => "avvenuta-consegna",
            Self::PostaCertificata => "posta-certificata",
            Self::ErroreConsegna => "errore-consegna",
            Self::PreavvisoErroreConsegna => "preavviso-errore-consegna",
            Self::RilevazioneVirus => "rilevazione-virus",
            Self::Other(s) => s,
        }
    }
}

/// `postacert/@errore` (DTD default `nessuno`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Errore {
    #[default]
    Nessuno,
    NoDest,
    NoDominio,
    Virus,
    Altro,
    #[serde(untagged)]
    Other(String),
}

impl Errore {
    fn parse(v: &str) -> Self {
        match v.trim() {
            "nessuno" => Self::Nessuno,
            "no-dest" => Self::NoDest,
            "no-dominio" => Self::NoDominio,
            "virus" => Self::Virus,
            "altro" => Self::Altro,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// `destinatari/@tipo` (DTD default `certificato`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TipoDestinatario {
    /// A PEC mailbox.
    #[default]
    Certificato,
    /// An ordinary mailbox: no delivery receipt will come for it.
    Esterno,
    #[serde(untagged)]
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destinatario {
    pub indirizzo: String,
    pub tipo: TipoDestinatario,
}

/// Every element and attribute of the DTD, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Daticert {
    pub tipo: Option<Tipo>,
    pub errore: Errore,
    pub mittente: Option<String>,
    pub destinatari: Vec<Destinatario>,
    pub risposte: Option<String>,
    pub oggetto: Option<String>,
    pub gestore_emittente: Option<String>,
    /// `data` = `giorno` + `ora` (local time) + `zona` (offset), as one instant with offset.
    pub data: Option<DateTime<FixedOffset>>,
    pub identificativo: Option<String>,
    /// Message-ID of the original before the provider rewrote it, angle brackets included.
    pub msgid: Option<String>,
    /// `ricevuta/@tipo`: the delivery-receipt kind the sender asked for.
    pub ricevuta: Option<ReceiptKind>,
    pub consegna: Option<String>,
    pub ricezione: Vec<String>,
    pub errore_esteso: Option<String>,
    /// Deviations from the DTD, in Italian.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Hard cap on XML nodes: a daticert has a few dozen; this stops billion-laughs style input.
const NODES_LIMIT: u32 = 10_000;

/// Parses a `daticert.xml`. Errors only when the bytes are not XML with a `postacert` root;
/// every other deviation is collected in [`Daticert::warnings`].
pub fn parse(bytes: &[u8]) -> Result<Daticert, PecError> {
    let text = decode_xml_text(bytes);
    let opts = roxmltree::ParsingOptions { allow_dtd: true, nodes_limit: NODES_LIMIT };
    let doc = roxmltree::Document::parse_with_options(&text, opts)
        .map_err(|e| PecError::MalformedDaticert(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "postacert" {
        return Err(PecError::MalformedDaticert(format!(
            "elemento radice <{}> invece di <postacert>",
            root.tag_name().name()
        )));
    }

    let mut d = Daticert::default();
    match root.attribute("tipo") {
        Some(t) => {
            let tipo = Tipo::parse(t);
            if let Tipo::Other(v) = &tipo {
                d.warnings.push(format!("tipo non previsto dal DTD: {v:?}"));
            }
            d.tipo = Some(tipo);
        }
        None => d.warnings.push("attributo tipo mancante".to_owned()),
    }
    if let Some(e) = root.attribute("errore") {
        d.errore = Errore::parse(e);
        if let Errore::Other(v) = &d.errore {
            d.warnings.push(format!("errore non previsto dal DTD: {v:?}"));
        }
    }

    let mut seen_intestazione = false;
    let mut seen_dati = false;
    for child in children(root, &mut d.warnings) {
        match child.tag_name().name() {
            "intestazione" => {
                seen_intestazione = true;
                parse_intestazione(child, &mut d);
            }
            "dati" => {
                seen_dati = true;
                parse_dati(child, &mut d);
            }
            other => d.warnings.push(format!("elemento sconosciuto <{other}> in <postacert>")),
        }
    }
    if !seen_intestazione {
        d.warnings.push("elemento <intestazione> mancante".to_owned());
    }
    if !seen_dati {
        d.warnings.push("elemento <dati> mancante".to_owned());
    }
    Ok(d)
}

fn parse_intestazione(node: roxmltree::Node<'_, '_>, d: &mut Daticert) {
    for child in children(node, &mut d.warnings) {
        match child.tag_name().name() {
            "mittente" => d.mittente = Some(text(child)),
            "destinatari" => {
                let tipo = match child.attribute("tipo").map(str::trim) {
                    None | Some("certificato") => TipoDestinatario::Certificato,
                    Some("esterno") => TipoDestinatario::Esterno,
                    Some(other) => {
                        d.warnings.push(format!("tipo di destinatario non previsto: {other:?}"));
                        TipoDestinatario::Other(other.to_owned())
                    }
                };
                d.destinatari.push(Destinatario { indirizzo: text(child), tipo });
            }
            "risposte" => d.risposte = Some(text(child)),
            "oggetto" => d.oggetto = Some(text(child)),
            other => d.warnings.push(format!("elemento sconosciuto <{other}> in <intestazione>")),
        }
    }
    if d.mittente.is_none() {
        d.warnings.push("elemento <mittente> mancante".to_owned());
    }
    if d.destinatari.is_empty() {
        d.warnings.push("nessun elemento <destinatari>".to_owned());
    }
    if d.risposte.is_none() {
        d.warnings.push("elemento <risposte> mancante".to_owned());
    }
}

fn parse_dati(node: roxmltree::Node<'_, '_>, d: &mut Daticert) {
    for child in children(node, &mut d.warnings) {
        match child.tag_name().name() {
            "gestore-emittente" => d.gestore_emittente = Some(text(child)),
            "data" => d.data = parse_data(child, &mut d.warnings),
            "identificativo" => d.identificativo = Some(text(child)),
            "msgid" => d.msgid = Some(text(child)),
            "ricevuta" => match child.attribute("tipo") {
                Some(t) => {
                    let kind = ReceiptKind::parse(t);
                    if let ReceiptKind::Other(v) = &kind {
                        d.warnings.push(format!("tipo di ricevuta non previsto: {v:?}"));
                    }
                    d.ricevuta = Some(kind);
                }
                None => d.warnings.push("<ricevuta> senza attributo tipo".to_owned()),
            },
            "consegna" => d.consegna = Some(text(child)),
            "ricezione" => d.ricezione.push(text(child)),
            "errore-esteso" => d.errore_esteso = Some(text(child)),
            other => d.warnings.push(format!("elemento sconosciuto <{other}> in <dati>")),
        }
    }
    if d.gestore_emittente.is_none() {
        d.warnings.push("elemento <gestore-emittente> mancante".to_owned());
    }
    if d.identificativo.is_none() {
        d.warnings.push("elemento <identificativo> mancante".to_owned());
    }
}

fn parse_data(node: roxmltree::Node<'_, '_>, warnings: &mut Vec<String>) -> Option<DateTime<FixedOffset>> {
    let mut giorno = None;
    let mut ora = None;
    for child in children(node, warnings) {
        match child.tag_name().name() {
            "giorno" => giorno = Some(text(child)),
            "ora" => ora = Some(text(child)),
            other => warnings.push(format!("elemento sconosciuto <{other}> in <data>")),
        }
    }
    let zona = node.attribute("zona").map(str::trim);
    let parsed = (|| {
        let date = NaiveDate::parse_from_str(giorno.as_deref()?, "%d/%m/%Y").ok()?;
        let time = NaiveTime::parse_from_str(ora.as_deref()?, "%H:%M:%S").ok()?;
        let offset = parse_zona(zona?)?;
        offset.from_local_datetime(&date.and_time(time)).single()
    })();
    if parsed.is_none() {
        warnings.push(format!(
            "data non interpretabile: giorno={giorno:?} ora={ora:?} zona={zona:?}"
        ));
    }
    parsed
}

/// `zona` is `[+|-]hhmm`.
fn parse_zona(z: &str) -> Option<FixedOffset> {
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => (1, z),
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    if minutes >= 60 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// Element children; text between elements that is not whitespace is a DTD violation
/// (seen in a real anonymised file: `</risposte>a`) and becomes a warning.
fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    warnings: &mut Vec<String>,
) -> Vec<roxmltree::Node<'a, 'i>> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() {
            let t = child.text().unwrap_or_default().trim();
            if !t.is_empty() {
                warnings.push(format!(
                    "testo estraneo {:?} in <{}>",
                    t.chars().take(40).collect::<String>(),
                    node.tag_name().name()
                ));
            }
        }
    }
    out
}

fn text(node: roxmltree::Node<'_, '_>) -> String {
    let mut s = String::new();
    for d in node.descendants().filter(|n| n.is_text()) {
        s.push_str(d.text().unwrap_or_default());
    }
    s.trim().to_owned()
}

/// roxmltree wants `&str`; providers write UTF-8, but honour a Latin-1 declaration since
/// some mail systems still produce one.
fn decode_xml_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &bytes[..bytes.len().min(100)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let latin1 = head.starts_with("<?xml")
        && ["iso-8859-1", "iso8859-1", "latin1", "windows-1252"].iter().any(|e| head.contains(e));
    if latin1 {
        let s: String = bytes.iter().map(|&b| b as char).collect();
        // roxmltree ignores the declared encoding; the text is already decoded.
        s
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCETTAZIONE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="accettazione" errore="nessuno">
    <intestazione>
        <mittente>a@pec.example.it</mittente>
        <destinatari tipo="certificato">b@pec.example.it</destinatari>
        <destinatari tipo="esterno">c@example.com</destinatari>
        <risposte>a@pec.example.it</risposte>
        <oggetto>Istanza</oggetto>
    </intestazione>
    <dati>
        <gestore-emittente>ESEMPIO PEC S.p.A.</gestore-emittente>
        <data zona="+0100">
            <giorno>13/11/2018</giorno>
            <ora>16:39:26</ora>
        </data>
        <identificativo>opec1.2@pec.example.it</identificativo>
        <msgid>&lt;abc@client&gt;</msgid>
        <ricevuta tipo="completa" />
        <consegna>b@pec.example.it</consegna>
        <ricezione>b@pec.example.it</ricezione>
        <ricezione>d@pec.example.it</ricezione>
        <errore-esteso>5.1.1 - indirizzo non valido</errore-esteso>
    </dati>
</postacert>"#;

    #[test]
    fn every_element() {
        let d = parse(ACCETTAZIONE.as_bytes()).unwrap_or_default();
        assert_eq!(d.tipo, Some(Tipo::Accettazione));
        assert_eq!(d.errore, Errore::Nessuno);
        assert_eq!(d.mittente.as_deref(), Some("a@pec.example.it"));
        assert_eq!(d.destinatari.len(), 2);
        assert_eq!(d.destinatari[1].tipo, TipoDestinatario::Esterno);
        assert_eq!(d.oggetto.as_deref(), Some("Istanza"));
        assert_eq!(d.gestore_emittente.as_deref(), Some("ESEMPIO PEC S.p.A."));
        assert_eq!(
            d.data.map(|t| t.to_rfc3339()).as_deref(),
            Some("2018-11-13T16:39:26+01:00")
        );
        assert_eq!(d.msgid.as_deref(), Some("<abc@client>"));
        assert_eq!(d.ricevuta, Some(ReceiptKind::Completa));
        assert_eq!(d.consegna.as_deref(), Some("b@pec.example.it"));
        assert_eq!(d.ricezione.len(), 2);
        assert_eq!(d.errore_esteso.as_deref(), Some("5.1.1 - indirizzo non valido"));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn stray_text_is_a_warning() {
        let xml = ACCETTAZIONE.replace("</risposte>", "</risposte>a");
        let d = parse(xml.as_bytes()).unwrap_or_default();
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert_eq!(d.oggetto.as_deref(), Some("Istanza"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\xff\xfe\x00").is_err());
        assert!(parse(b"<other/>").is_err());
        let d = parse(b"<postacert/>").unwrap_or_default();
        assert!(d.warnings.len() >= 3);
        let d = parse(ACCETTAZIONE.replace("+0100", "CET").as_bytes()).unwrap_or_default();
        assert!(d.data.is_none());
        assert_eq!(d.warnings.len(), 1);
    }

    #[test]
    fn zona() {
        assert_eq!(parse_zona("-0230"), FixedOffset::west_opt(9000));
        assert_eq!(parse_zona("+01"), None);
        assert_eq!(parse_zona(""), None);
        assert_eq!(parse_zona("+é00"), None);
    }
}
