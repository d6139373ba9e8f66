//! Whether a decided message gets an automatic answer, and to whom: loop safety.
//!
//! An automatic answer must never start or feed a mail loop, and must never become
//! backscatter: so it goes only to a person who wrote to the comune. This module decides from
//! the classifier's report alone (pure, no I/O); the per-recipient rate limit and "one answer
//! per message" need the database and are applied by [`crate::outbox`].
//!
//! Not answered (the reason code is stored on the suppressed outbox row):
//! - provider receipts (`RECEIPT`): they are linked to what we sent, never answered;
//! - messages waiting for the protocol office (`REVIEW`): staff decide first;
//! - envelopes that are not the provider's (`FORGED_ENVELOPE`): the sender is unverified,
//!   answering would mail whoever the forger named;
//! - automatic mail (`AUTOMATIC_MAIL`, RFC 3834 §2 and §5): `Auto-Submitted` other than `no`,
//!   `Precedence: bulk|junk|list|auto_reply`, a `List-Id`, an empty `Return-Path` (a bounce),
//!   a `multipart/report` (DSN, MDN), a PEC envelope that came through a mailing list;
//! - system senders (`NO_REPLY_SENDER`): mailer-daemon, postmaster, no-reply and its
//!   spellings, list and bounce addresses, the provider's `posta-certificata@`, and the
//!   comune's own address;
//! - no usable address (`NO_ADDRESS`).

use serde::Serialize;
use sigillo_pec::MessageReport;
use sigillo_pec::kind::PecType;
use sigillo_pec::report::{Decision, ReasonCode};
use sigillo_store::outbox::SuppressedReason;

/// What kind of message we send: the outbox's kind, one type from the schema up.
pub use sigillo_store::outbox::OutboxKind as NoticeKind;

/// Why no automatic message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SkipReason {
    Receipt,
    AutomaticMail,
    NoReplySender,
    ForgedEnvelope,
    Review,
    Duplicate,
    NoAddress,
    RateLimit,
}

impl SkipReason {
    /// The code a suppressed outbox row keeps; `None` for the reasons that write no row.
    pub fn suppressed(self) -> Option<SuppressedReason> {
        match self {
            SkipReason::AutomaticMail => Some(SuppressedReason::AutomaticMail),
            SkipReason::NoReplySender => Some(SuppressedReason::NoReplySender),
            SkipReason::ForgedEnvelope => Some(SuppressedReason::ForgedEnvelope),
            SkipReason::NoAddress => Some(SuppressedReason::NoAddress),
            SkipReason::RateLimit => Some(SuppressedReason::RateLimit),
            SkipReason::Receipt | SkipReason::Review | SkipReason::Duplicate => None,
        }
    }

    /// The machine-readable code, as stored in `outbox.suppressed_reason`.
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::Receipt => "RECEIPT",
            SkipReason::AutomaticMail => "AUTOMATIC_MAIL",
            SkipReason::NoReplySender => "NO_REPLY_SENDER",
            SkipReason::ForgedEnvelope => "FORGED_ENVELOPE",
            SkipReason::Review => "REVIEW",
            SkipReason::Duplicate => "DUPLICATE",
            SkipReason::NoAddress => "NO_ADDRESS",
            SkipReason::RateLimit => "RATE_LIMIT",
        }
    }
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send { kind: NoticeKind, to: String },
    /// Not sent. `to` is the address it would have gone to, when there is one: the outbox
    /// keeps a suppressed row with it so that staff can see, and re-send, what was held back.
    Skip { reason: SkipReason, kind: Option<NoticeKind>, to: Option<String> },
}

impl Verdict {
    fn skip(reason: SkipReason, kind: Option<NoticeKind>, to: Option<String>) -> Self {
        Verdict::Skip { reason, kind, to }
    }
}

/// Decides from the classifier's report. `own_address` is the comune's PEC address: a
/// message that claims to come from it is never answered.
pub fn decide(report: &MessageReport, own_address: &str) -> Verdict {
    let kind = match report.decision {
        Decision::LinkReceipt => return Verdict::skip(SkipReason::Receipt, None, None),
        Decision::Review => return Verdict::skip(SkipReason::Review, None, None),
        Decision::Register => NoticeKind::Ricevuta,
        Decision::Reject => NoticeKind::Notifica,
    };
    if report.pec.pec_type == PecType::Ricevuta {
        return Verdict::skip(SkipReason::Receipt, None, None);
    }
    let to = recipient(report);
    if report.reasons.iter().any(|r| r.code == ReasonCode::ForgedEnvelope) {
        return Verdict::skip(SkipReason::ForgedEnvelope, Some(kind), to);
    }
    if is_automatic(report) {
        return Verdict::skip(SkipReason::AutomaticMail, Some(kind), to);
    }
    let Some(to) = to else {
        return Verdict::skip(SkipReason::NoAddress, Some(kind), None);
    };
    let from = report.pec.original.as_ref().and_then(|o| o.from.as_deref());
    let own = |a: &str| a.trim().eq_ignore_ascii_case(own_address.trim());
    if is_system_sender(&to) || own(&to) || from.is_some_and(|f| is_system_sender(f) || own(f)) {
        return Verdict::skip(SkipReason::NoReplySender, Some(kind), Some(to));
    }
    Verdict::Send { kind, to }
}

/// Where an answer goes: for a transport envelope, the address the provider certifies for
/// replies (daticert `risposte`, the original Reply-To) or else the certified sender
/// (`mittente`); for an anomaly envelope or plain mail, the original From. `None` when that
/// is missing or not a plain address.
pub fn recipient(report: &MessageReport) -> Option<String> {
    let daticert = report.pec.daticert.as_ref();
    let original_from = report.pec.original.as_ref().and_then(|o| o.from.clone());
    let candidates: Vec<Option<String>> = match report.pec.pec_type {
        PecType::PostaCertificata => vec![
            daticert.and_then(|d| d.risposte.clone()),
            daticert.and_then(|d| d.mittente.clone()),
            original_from,
        ],
        PecType::Anomalia | PecType::None => vec![original_from],
        PecType::Ricevuta => vec![],
    };
    candidates.into_iter().flatten().map(|a| clean_address(&a)).find_map(|a| a)
}

/// A bare addr-spec (`local@domain`), angle brackets removed; `None` if it is not one. Only
/// what an SMTP envelope can carry safely: one `@`, no spaces, quotes, brackets or controls.
pub fn clean_address(a: &str) -> Option<String> {
    let a = a.trim();
    let a = a.strip_prefix('<').and_then(|x| x.strip_suffix('>')).unwrap_or(a).trim();
    let (local, domain) = a.split_once('@')?;
    let bad = |c: char| c.is_control() || c.is_whitespace() || "<>()[]\\,;:\"@".contains(c);
    if local.is_empty() || domain.is_empty() || a.len() > 254 || local.chars().any(bad) || domain.chars().any(bad) {
        return None;
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return None;
    }
    Some(a.to_owned())
}

/// RFC 3834 and the usual list and bulk markers on the original message.
fn is_automatic(report: &MessageReport) -> bool {
    if report.pec.wrapped || report.pec.mailing_list.is_some() {
        return true;
    }
    let Some(o) = report.pec.original.as_ref() else { return false };
    let auto_submitted = o.auto_submitted.as_deref().is_some_and(|v| {
        // `Auto-Submitted: no` (optionally with comments or parameters) is a person.
        let token = v.split([';', '(']).next().unwrap_or("").trim();
        !token.eq_ignore_ascii_case("no")
    });
    let precedence = o.precedence.as_deref().is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply" | "auto-reply")
    });
    let null_return_path = o.return_path.as_deref().is_some_and(|v| {
        let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        v == "<>" || v.is_empty()
    });
    auto_submitted || precedence || o.list_id.is_some() || null_return_path || o.report_type.is_some()
}

/// Addresses that belong to mail systems, not people.
pub fn is_system_sender(address: &str) -> bool {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    let local = a.rsplit_once('@').map_or(a, |(l, _)| l).to_ascii_lowercase();
    let compact: String = local.chars().filter(|c| !matches!(c, '-' | '_' | '.')).collect();
    const EXACT: &[&str] = &["mailerdaemon", "postmaster", "posta-certificata", "postacertificata", "listserv", "majordomo", "bounce", "bounces"];
    const PREFIXES: &[&str] = &["noreply", "donotreply", "dontreply", "nonrispondere", "norisposta", "nessunarisposta", "mailerdaemon"];
    EXACT.contains(&local.as_str())
        || EXACT.contains(&compact.as_str())
        || PREFIXES.iter().any(|p| compact.starts_with(p))
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
        || local.contains("+bounce")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigillo_pec::daticert::Daticert;
    use sigillo_pec::envelope::Original;
    use sigillo_pec::kind::ReceiptType;
    use sigillo_pec::report::{EnvelopeSignature, EnvelopeStatus, PecReport, Reason};

    const OWN: &str = "protocollo@pec.comune.example.it";

    fn report(pec_type: PecType, decision: Decision) -> MessageReport {
        let daticert = (pec_type == PecType::PostaCertificata).then(|| Daticert {
            mittente: Some("mario.rossi@pec.example.it".into()),
            risposte: Some("mario.rossi@pec.example.it".into()),
            ..Daticert::default()
        });
        MessageReport {
            file: "m.eml".into(),
            pec: PecReport {
                pec_type,
                receipt: None,
                receipt_kind: None,
                envelope_signature: EnvelopeSignature {
                    status: EnvelopeStatus::Valid,
                    signer: None,
                    detail: None,
                    canonicalised: false,
                    judged_at: None,
                    time_source: None,
                    subindication: None,
                },
                daticert,
                wrapped: false,
                mailing_list: None,
                riferimento_message_id: None,
                original: Some(Original {
                    from: Some("mario.rossi@pec.example.it".into()),
                    subject: Some("Domanda".into()),
                    ..Original::default()
                }),
                body: None,
                warnings: vec![],
            },
            attachments: vec![],
            decision,
            reasons: vec![],
        }
    }

    fn skipped(v: &Verdict) -> Option<SkipReason> {
        match v {
            Verdict::Skip { reason, .. } => Some(*reason),
            Verdict::Send { .. } => None,
        }
    }

    #[test]
    fn registered_transport_envelope_gets_a_receipt_to_risposte() {
        let mut r = report(PecType::PostaCertificata, Decision::Register);
        r.pec.daticert.as_mut().unwrap().risposte = Some("ufficio.legale@pec.example.it".into());
        assert_eq!(
            decide(&r, OWN),
            Verdict::Send { kind: NoticeKind::Ricevuta, to: "ufficio.legale@pec.example.it".into() }
        );
    }

    #[test]
    fn without_risposte_the_certified_sender_is_used() {
        let mut r = report(PecType::PostaCertificata, Decision::Reject);
        let d = r.pec.daticert.as_mut().unwrap();
        d.risposte = None;
        d.mittente = Some("<anna@pec.example.it>".into());
        assert_eq!(decide(&r, OWN), Verdict::Send { kind: NoticeKind::Notifica, to: "anna@pec.example.it".into() });
    }

    #[test]
    fn plain_mail_and_anomaly_are_answered_at_the_original_from() {
        for t in [PecType::None, PecType::Anomalia] {
            let mut r = report(t, Decision::Reject);
            r.pec.original.as_mut().unwrap().from = Some("cittadino@example.com".into());
            assert_eq!(decide(&r, OWN), Verdict::Send { kind: NoticeKind::Notifica, to: "cittadino@example.com".into() });
        }
    }

    #[test]
    fn receipts_are_never_answered() {
        let mut r = report(PecType::Ricevuta, Decision::LinkReceipt);
        r.pec.receipt = Some(ReceiptType::AvvenutaConsegna);
        assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::Receipt));
        // Even if something upstream called it a rejection.
        let r = report(PecType::Ricevuta, Decision::Reject);
        assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::Receipt));
    }

    #[test]
    fn review_waits_for_staff() {
        let r = report(PecType::PostaCertificata, Decision::Review);
        assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::Review));
    }

    #[test]
    fn forged_envelopes_are_not_answered() {
        let mut r = report(PecType::PostaCertificata, Decision::Reject);
        r.reasons.push(Reason { code: ReasonCode::ForgedEnvelope, detail: "x".into() });
        let v = decide(&r, OWN);
        assert_eq!(skipped(&v), Some(SkipReason::ForgedEnvelope));
        let Verdict::Skip { to, kind, .. } = v else { unreachable!() };
        assert_eq!((kind, to.as_deref()), (Some(NoticeKind::Notifica), Some("mario.rossi@pec.example.it")));
    }

    #[test]
    fn auto_submitted_other_than_no_is_automatic() {
        for (value, automatic) in [
            ("auto-replied", true),
            ("auto-generated", true),
            ("auto-notified; owner-email=\"x@y.it\"", true),
            ("no", false),
            ("No (a person)", false),
        ] {
            let mut r = report(PecType::None, Decision::Reject);
            r.pec.original.as_mut().unwrap().auto_submitted = Some(value.into());
            let got = skipped(&decide(&r, OWN)) == Some(SkipReason::AutomaticMail);
            assert_eq!(got, automatic, "{value}");
        }
    }

    #[test]
    fn bulk_lists_bounces_and_reports_are_automatic() {
        let cases: [fn(&mut MessageReport); 7] = [
            |r| r.pec.original.as_mut().unwrap().precedence = Some("bulk".into()),
            |r| r.pec.original.as_mut().unwrap().precedence = Some("Junk".into()),
            |r| r.pec.original.as_mut().unwrap().list_id = Some("<l.example.it>".into()),
            |r| r.pec.original.as_mut().unwrap().return_path = Some("<>".into()),
            |r| r.pec.original.as_mut().unwrap().report_type = Some("delivery-status".into()),
            |r| r.pec.wrapped = true,
            |r| r.pec.mailing_list = Some("mailman".into()),
        ];
        for (i, change) in cases.iter().enumerate() {
            let mut r = report(PecType::Anomalia, Decision::Reject);
            change(&mut r);
            assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::AutomaticMail), "case {i}");
        }
        // A Precedence a person's client sets is not automatic.
        let mut r = report(PecType::None, Decision::Reject);
        r.pec.original.as_mut().unwrap().precedence = Some("first-class".into());
        assert_eq!(skipped(&decide(&r, OWN)), None);
    }

    #[test]
    fn system_and_no_reply_senders_are_not_answered() {
        for from in [
            "MAILER-DAEMON@mx.example.it",
            "postmaster@example.it",
            "no-reply@servizi.example.it",
            "noreply@example.it",
            "do_not_reply@example.it",
            "nonrispondere@example.it",
            "non-rispondere.suap@example.it",
            "posta-certificata@pec.aruba.it",
            "lista-request@example.it",
            "owner-lista@example.it",
            "news-bounces@example.it",
            "PROTOCOLLO@pec.comune.example.it",
        ] {
            let mut r = report(PecType::None, Decision::Reject);
            r.pec.original.as_mut().unwrap().from = Some(from.into());
            assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::NoReplySender), "{from}");
        }
        for person in ["noemi.rossi@example.it", "bouncer.club@example.it", "mario@example.it"] {
            assert!(!is_system_sender(person), "{person}");
        }
    }

    #[test]
    fn a_system_risposte_is_not_answered_either() {
        let mut r = report(PecType::PostaCertificata, Decision::Register);
        r.pec.daticert.as_mut().unwrap().risposte = Some("no-reply@pec.example.it".into());
        assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::NoReplySender));
    }

    #[test]
    fn no_usable_address() {
        let mut r = report(PecType::None, Decision::Reject);
        r.pec.original.as_mut().unwrap().from = None;
        assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::NoAddress));
        for bad in ["mario rossi@example.it", "a@b", "x@y.it\r\nBcc: z@w.it", "@example.it", "\"a\"@b.it", "a@b..it"] {
            r.pec.original.as_mut().unwrap().from = Some(bad.into());
            assert_eq!(skipped(&decide(&r, OWN)), Some(SkipReason::NoAddress), "{bad:?}");
        }
        // For an envelope, a malformed risposte falls back to mittente.
        let mut r = report(PecType::PostaCertificata, Decision::Register);
        r.pec.daticert.as_mut().unwrap().risposte = Some("not an address".into());
        assert!(matches!(decide(&r, OWN), Verdict::Send { to, .. } if to == "mario.rossi@pec.example.it"));
    }

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(SkipReason::RateLimit.code(), "RATE_LIMIT");
        assert_eq!(SkipReason::Duplicate.code(), "DUPLICATE");
        assert_eq!(serde_json::to_value(SkipReason::NoReplySender).unwrap(), "NO_REPLY_SENDER");
    }
}
