//! What a message is, told from its PEC header fields (never from the Subject, which the
//! citizen controls).

use serde::Serialize;

/// The PEC category of a message, as printed in `pec.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PecType {
    /// Transport envelope, `X-Trasporto: posta-certificata`.
    #[serde(rename = "posta-certificata")]
    PostaCertificata,
    /// Anomaly envelope, `X-Trasporto: errore`: what arrived was not a valid PEC.
    #[serde(rename = "anomalia")]
    Anomalia,
    /// Provider receipt or notice, `X-Ricevuta: …`.
    #[serde(rename = "ricevuta")]
    Ricevuta,
    /// No PEC header at all: ordinary e-mail.
    #[serde(rename = "none")]
    None,
}

/// Receipt and notice types, the `X-Ricevuta` values (and daticert `tipo` values of receipts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiptType {
    Accettazione,
    NonAccettazione,
    PresaInCarico,
    AvvenutaConsegna,
    ErroreConsegna,
    PreavvisoErroreConsegna,
    RilevazioneVirus,
    /// A value outside the technical rules (e.g. `mancata-consegna` from simulators), kept
    /// verbatim so that nothing is silently dropped.
    #[serde(untagged)]
    Other(String),
}

impl ReceiptType {
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "accettazione" => Self::Accettazione,
            "non-accettazione" => Self::NonAccettazione,
            "presa-in-carico" => Self::PresaInCarico,
            "avvenuta-consegna" => Self::AvvenutaConsegna,
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
            Self::ErroreConsegna => "errore-consegna",
            Self::PreavvisoErroreConsegna => "preavviso-errore-consegna",
            Self::RilevazioneVirus => "rilevazione-virus",
            Self::Other(s) => s,
        }
    }
}

/// Delivery-receipt kind requested by the sender (`X-TipoRicevuta`, daticert `<ricevuta tipo>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiptKind {
    Completa,
    Breve,
    Sintetica,
    #[serde(untagged)]
    Other(String),
}

impl ReceiptKind {
    pub fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "completa" => Self::Completa,
            "breve" => Self::Breve,
            "sintetica" => Self::Sintetica,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The classification read from the top-level header fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    #[serde(rename = "type")]
    pub pec_type: PecType,
    pub receipt: Option<ReceiptType>,
    pub receipt_kind: Option<ReceiptKind>,
    /// Values that did not fit (unknown `X-Trasporto`, both `X-Trasporto` and `X-Ricevuta`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Classifies from `(name, value)` header pairs; names are compared case-insensitively
/// because providers write `X-Tiporicevuta` and `X-TipoRicevuta` alike.
pub fn classify<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Classification {
    let mut trasporto = None;
    let mut ricevuta = None;
    let mut tipo_ricevuta = None;
    for (name, value) in headers {
        // The first occurrence wins, as in every MUA; duplicates are suspicious but not fatal.
        let slot = if name.eq_ignore_ascii_case("X-Trasporto") {
            &mut trasporto
        } else if name.eq_ignore_ascii_case("X-Ricevuta") {
            &mut ricevuta
        } else if name.eq_ignore_ascii_case("X-TipoRicevuta") {
            &mut tipo_ricevuta
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(value.trim().to_owned());
        }
    }

    let mut warnings = Vec::new();
    let receipt_kind = tipo_ricevuta
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(ReceiptKind::parse);
    let trasporto_type = trasporto.as_deref().and_then(|v| {
        match v.to_ascii_lowercase().as_str() {
            "posta-certificata" => Some(PecType::PostaCertificata),
            "errore" => Some(PecType::Anomalia),
            _ => {
                warnings.push(format!("valore di X-Trasporto sconosciuto: {v:?}"));
                None
            }
        }
    });
    let receipt = ricevuta.as_deref().filter(|v| !v.is_empty()).map(ReceiptType::parse);
    if let Some(ReceiptType::Other(v)) = &receipt {
        warnings.push(format!("valore di X-Ricevuta non previsto dalle regole tecniche: {v:?}"));
    }

    let pec_type = match (trasporto_type, &receipt) {
        (Some(t), Some(_)) => {
            // Providers never write both; the envelope reading is the stricter one (it needs a
            // valid signature and matching daticert to go anywhere).
            warnings.push("presenti sia X-Trasporto sia X-Ricevuta".to_owned());
            t
        }
        (Some(t), None) => t,
        (None, Some(_)) => PecType::Ricevuta,
        (None, None) => PecType::None,
    };
    let receipt = if pec_type == PecType::Ricevuta { receipt } else { None };
    Classification { pec_type, receipt, receipt_kind, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_case_insensitive() {
        let c = classify([("x-trasporto", " Posta-Certificata"), ("X-Tiporicevuta", "breve")]);
        assert_eq!(c.pec_type, PecType::PostaCertificata);
        assert_eq!(c.receipt_kind, Some(ReceiptKind::Breve));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn every_receipt_type() {
        for v in [
            "accettazione",
            "non-accettazione",
            "presa-in-carico",
            "avvenuta-consegna",
            "errore-consegna",
            "preavviso-errore-consegna",
            "rilevazione-virus",
        ] {
            let c = classify([("X-RICEVUTA", v)]);
            assert_eq!(c.pec_type, PecType::Ricevuta);
            assert_eq!(c.receipt.as_ref().map(ReceiptType::as_str), Some(v));
            assert!(c.warnings.is_empty(), "{v}");
        }
    }

    #[test]
    fn subject_is_ignored_and_unknown_values_warn() {
        let c = classify([("Subject", "POSTA CERTIFICATA: x")]);
        assert_eq!(c.pec_type, PecType::None);
        let c = classify([("X-Trasporto", "boh")]);
        assert_eq!(c.pec_type, PecType::None);
        assert_eq!(c.warnings.len(), 1);
        let c = classify([("X-Ricevuta", "mancata-consegna")]);
        assert_eq!(c.receipt, Some(ReceiptType::Other("mancata-consegna".into())));
    }

    #[test]
    fn anomaly() {
        assert_eq!(classify([("X-Trasporto", "errore")]).pec_type, PecType::Anomalia);
    }
}
