//! What the provider does with a message once SMTP has it: the PEC service for its own
//! users (accettazione, transport envelope, delivery receipts) and the punto di ricezione
//! for ordinary mail (anomaly envelope).

use chrono::Utc;

use crate::lmtp::{self, Outcome};
use crate::mail::{Provider, Receipt, Recipient, Submission, domain_of};

pub const DEFAULT_MAX_SIZE: usize = 30 * 1024 * 1024;

/// The running provider.
pub struct Service {
    pub provider: Provider,
    /// The PEC domains served (lower case).
    pub domains: Vec<String>,
    pub password: String,
    /// LMTP `host:port` of the mail store.
    pub lmtp: String,
    pub max_size: usize,
}

impl Service {
    pub fn is_local(&self, address: &str) -> bool {
        let d = domain_of(address);
        self.domains.iter().any(|x| x.eq_ignore_ascii_case(d))
    }

    fn recipients(&self, rcpts: &[String]) -> Vec<Recipient> {
        rcpts.iter().map(|a| Recipient { address: a.clone(), certified: self.is_local(a) }).collect()
    }

    async fn deliver(&self, rcpts: &[String], data: &[u8]) -> Result<Vec<Outcome>, crate::error::Error> {
        lmtp::deliver(&self.lmtp, &self.provider.address(), rcpts, data).await
    }

    /// Delivers a receipt to the sender's mailbox; failures are logged (the submission was
    /// already accepted, as with a real provider whose notice is lost).
    async fn notify(&self, sender: &str, sub: &Submission, ident: &str, recipients: &[Recipient], r: &Receipt) {
        let raw = match self.provider.receipt(sub, ident, recipients, r, Utc::now()) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(%ident, error = %e, "cannot build receipt");
                return;
            }
        };
        match self.deliver(&[sender.to_owned()], &raw).await {
            Ok(o) if o.iter().all(|o| *o == Outcome::Delivered) => {
                tracing::info!(%ident, receipt = r.x_ricevuta(), "receipt delivered");
            }
            Ok(o) => tracing::warn!(%ident, receipt = r.x_ricevuta(), outcome = ?o, "receipt refused by the sender's mailbox"),
            Err(e) => tracing::warn!(%ident, receipt = r.x_ricevuta(), error = %e, "receipt not delivered"),
        }
    }

    /// Authenticated submission by `user`: the PEC service. Returns the SMTP reply.
    pub async fn submit(&self, user: &str, rcpts: &[String], data: &[u8]) -> String {
        let now = Utc::now();
        let sub = Submission::parse(data, user, &self.provider.domain);
        let ident = self.provider.new_ident(now);
        let recipients = self.recipients(rcpts);
        tracing::debug!(%ident, sender = user, recipients = ?rcpts, "submission");

        // Formal checks of the punto di accesso (RFC 6109 §3.1.1): From = reverse path,
        // every forward path in To/Cc (no Bcc).
        let mut problems = Vec::new();
        if !sub.header_from.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(user)) {
            problems.push("il campo From non corrisponde alla casella del mittente".to_owned());
        }
        let listed = |a: &str| sub.to.iter().chain(&sub.cc).any(|x| x.eq_ignore_ascii_case(a));
        if rcpts.iter().any(|a| !listed(a)) {
            problems.push("destinatari non presenti in To o Cc (copia nascosta non ammessa)".to_owned());
        }
        if !problems.is_empty() {
            let why = problems.join("; ");
            tracing::info!(%ident, "submission not accepted: formal checks failed");
            let r = Receipt::NonAccettazione { why };
            let raw = match self.provider.receipt(&sub, &ident, &recipients, &r, now) {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::error!(%ident, error = %e, "cannot build receipt");
                    return "451 4.3.0 errore interno, riprovare".into();
                }
            };
            return match self.deliver(&[user.to_owned()], &raw).await {
                Ok(_) => format!("250 2.0.0 messaggio non accettato, avviso di non accettazione inviato ({ident})"),
                Err(e) => {
                    tracing::warn!(%ident, error = %e, "LMTP unavailable");
                    "451 4.3.0 servizio di consegna non disponibile, riprovare piu' tardi".into()
                }
            };
        }

        // The accettazione first: when the sender's own mailbox cannot get it, nothing has
        // happened yet and the client is told to retry (no queue: see the README).
        let acc = match self.provider.receipt(&sub, &ident, &recipients, &Receipt::Accettazione, now) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(%ident, error = %e, "cannot build receipt");
                return "451 4.3.0 errore interno, riprovare".into();
            }
        };
        match self.deliver(&[user.to_owned()], &acc).await {
            Ok(o) => match o.first() {
                Some(Outcome::Delivered) => {}
                Some(Outcome::Refused(t)) => return format!("550 5.2.0 casella del mittente non disponibile: {t}"),
                Some(Outcome::Deferred(t)) => {
                    return format!("451 4.2.0 casella del mittente temporaneamente non disponibile: {t}");
                }
                None => return "451 4.3.0 nessuna risposta dal sistema di consegna".into(),
            },
            Err(e) => {
                tracing::warn!(%ident, error = %e, "LMTP unavailable: submission refused with 451");
                return "451 4.3.0 servizio di consegna non disponibile, riprovare piu' tardi".into();
            }
        }
        tracing::info!(%ident, recipients = rcpts.len(), "accepted");

        let envelope = match self.provider.transport(&sub, &ident, &recipients, Utc::now()) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::error!(%ident, error = %e, "cannot build envelope");
                return "451 4.3.0 errore interno, riprovare".into();
            }
        };
        let outcomes = match self.deliver(rcpts, &envelope).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(%ident, error = %e, "envelope not delivered");
                vec![Outcome::Deferred(format!("4.3.0 sistema di consegna non raggiungibile: {e}")); rcpts.len()]
            }
        };
        for (r, o) in recipients.iter().zip(outcomes) {
            let receipt = match o {
                // Ordinary mailboxes send no delivery receipt back, as with real PEC.
                Outcome::Delivered if !r.certified => continue,
                Outcome::Delivered => Receipt::AvvenutaConsegna { to: r.address.clone() },
                Outcome::Refused(t) => Receipt::ErroreConsegna {
                    to: r.address.clone(),
                    errore: "no-dest",
                    why: format!("5.1.1 - {} - casella non disponibile: {t}", self.provider.gestore),
                },
                Outcome::Deferred(t) => Receipt::ErroreConsegna {
                    to: r.address.clone(),
                    errore: "altro",
                    why: format!("4.0.0 - {} - consegna non riuscita: {t}", self.provider.gestore),
                },
            };
            self.notify(user, &sub, &ident, &recipients, &receipt).await;
        }
        format!("250 2.0.0 messaggio accettato, identificativo {ident}")
    }

    /// Unauthenticated mail to local mailboxes: ordinary e-mail reaching a PEC domain gets
    /// an anomaly envelope (punto di ricezione).
    pub async fn inbound(&self, mail_from: &str, rcpts: &[String], data: &[u8]) -> String {
        let now = Utc::now();
        let sub = Submission::parse(data, mail_from, &self.provider.domain);
        let ident = self.provider.new_ident(now);
        let recipients = self.recipients(rcpts);
        let envelope = self.provider.anomaly(
            &sub,
            &ident,
            &recipients,
            "il messaggio non proviene da una casella di posta elettronica certificata",
            now,
        );
        match self.deliver(rcpts, &envelope).await {
            Ok(o) if o.contains(&Outcome::Delivered) => {
                tracing::info!(%ident, recipients = rcpts.len(), "anomaly envelope delivered");
                format!("250 2.0.0 consegnato come busta di anomalia ({ident})")
            }
            Ok(o) if o.iter().any(|o| matches!(o, Outcome::Deferred(_))) => {
                "451 4.2.0 caselle temporaneamente non disponibili".into()
            }
            Ok(_) => "550 5.1.1 casella di destinazione inesistente".into(),
            Err(e) => {
                tracing::warn!(%ident, error = %e, "LMTP unavailable");
                "451 4.3.0 servizio di consegna non disponibile, riprovare piu' tardi".into()
            }
        }
    }
}
