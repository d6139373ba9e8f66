//! The pipeline: one raw message in, one decision out, the same for the poller and for
//! `sigillo ingest`.
//!
//! 1. The raw bytes go to the blob store and the message row is written (state
//!    `received`) before anything else: every later step can be redone from them.
//! 2. The classifier (`sigillo_pec::Checker`) reads the envelope and verifies every
//!    signature, on a blocking thread; a panic there is caught and becomes a fault of this
//!    message, not of the service.
//! 3. One transaction locks the row and writes the decision with what it leads to: the
//!    registration (number, documents, hashes, signature reports, raw message linked),
//!    or the rejection / review / receipt with reasons. A transport envelope whose daticert
//!    identificativo and msgid were already decided becomes a duplicate of that message.
//!
//! With an outbox configured ([`Pipeline::with_outbox`]), the same transaction writes the
//! automatic answer (receipt or notice, `sigillo_notify::outbox`) or links a provider receipt
//! to the message it certifies; the outbox worker is woken after the commit.
//!
//! The same bytes twice give back the first decision (`duplicate`). A fault of the message
//! (unreadable, classifier panic, data the register refuses) is recorded on its row (state
//! `error`, cause, attempts) and retried a bounded number of times by [`Pipeline::retry`];
//! an unavailable database or blob store is an [`Error`]: nothing is decided and the
//! message is read again later.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sigillo_pec::report::{Decision, Reason};
use sigillo_pec::{Checker, MessageReport, PecError, ValidationTime};
use sigillo_store::PgPool;
use sigillo_store::blob::BlobStore;
use sigillo_store::ids::InboundId;
use sigillo_store::inbound::{self, Decided, Inbound, LinkedRegistration, MessageState, Origin, PecType};
use sigillo_notify::outbox::{self as notify_outbox, NoticeOutcome, OutboxConfig};
use sigillo_store::register::{self, Actor, Register, Sha256};
use tokio::sync::Notify;

use crate::Error;
use crate::clock::{Clock, SystemClock};
use crate::trust::SharedChecker;
use crate::plan::{Plan, decision_of};
use crate::policy::Policy;
use crate::record::{document_digest, registration_from_report};

/// The classification step: `Checker::check_message_at` in production, at the pipeline
/// clock's time; tests replace it to exercise the fault paths (a classifier that panics).
pub type Classifier = fn(&Checker, &str, &[u8], ValidationTime) -> Result<MessageReport, PecError>;

fn check_message(checker: &Checker, label: &str, raw: &[u8], when: ValidationTime) -> Result<MessageReport, PecError> {
    checker.check_message_at(label, raw, when)
}

/// What happened to one message.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub inbound_id: InboundId,
    pub raw_sha256: String,
    pub state: MessageState,
    /// `None` while in error.
    pub decision: Option<Decision>,
    pub reasons: Vec<Reason>,
    pub protocol: Option<LinkedRegistration>,
    /// The decision was taken before, for these bytes or for the same PEC.
    pub duplicate: bool,
    /// The cause of the last failed attempt, when in error.
    pub error: Option<String>,
    pub attempts: i32,
    /// In error and out of attempts: left aside until someone looks at it.
    pub quarantined: bool,
}

/// The pipeline and what it needs; cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    pool: PgPool,
    blobs: BlobStore,
    register: Register,
    /// Swapped whole when the trust directory changes (`trust::TrustWatcher`).
    checker: SharedChecker,
    /// The time of processing, read for each message: certificates are judged at it.
    clock: Arc<dyn Clock>,
    classifier: Classifier,
    actor: Actor,
    max_attempts: i32,
    /// `None`: no automatic answers (no `SIGILLO_NOTIFY_FROM`).
    outbox: Option<Arc<OutboxConfig>>,
    /// Wakes the outbox worker after a commit that queued a message.
    wake: Option<Arc<Notify>>,
    /// The configuration's policy (`SIGILLO_POLICY_*`), in force while the database holds
    /// none set from the dashboard.
    policy: Policy,
}

/// A failure that belongs to the message, not to the service.
struct Fault(String);

impl Pipeline {
    /// `checker`: a [`Checker`] of its own, or the service's [`SharedChecker`], which the
    /// dashboard uses too and a reload replaces for all.
    pub fn new(pool: PgPool, blobs: BlobStore, register: Register, checker: impl Into<SharedChecker>, max_attempts: u32) -> Self {
        Pipeline {
            pool,
            blobs,
            register,
            checker: checker.into(),
            clock: Arc::new(SystemClock),
            classifier: check_message,
            // A fixed, valid literal: parse cannot fail.
            actor: Actor::parse("intake").unwrap_or_else(|_| unreachable!("\"intake\" is a valid actor")),
            max_attempts: i32::try_from(max_attempts.max(1)).unwrap_or(i32::MAX),
            outbox: None,
            wake: None,
            policy: Policy::default(),
        }
    }

    /// The policy of the configuration; one set from the dashboard (stored in the database)
    /// wins over it, read again for every decision so that a change applies at once in every
    /// process.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Answers decided messages through the outbox (receipts, notices) and links provider
    /// receipts, in the decision's transaction. `wake` is notified after each commit that
    /// queued a message (the worker of `sigillo serve`); `None` leaves the rows for a worker
    /// that polls.
    pub fn with_outbox(mut self, config: OutboxConfig, wake: Option<Arc<Notify>>) -> Self {
        self.outbox = Some(Arc::new(config));
        self.wake = wake;
        self
    }

    /// Reads the time of processing from `clock` instead of the system's (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The classifier in use, to be replaced when the trust directory changes
    /// ([`crate::trust::TrustWatcher`]); every clone of this pipeline sees the replacement.
    pub fn checker(&self) -> &SharedChecker {
        &self.checker
    }

    /// Replaces the classification step (tests of the fault paths).
    pub fn with_classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = classifier;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The time by the pipeline's clock (the system's, or a test's).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn register(&self) -> &Register {
        &self.register
    }

    pub fn max_attempts(&self) -> i32 {
        self.max_attempts
    }

    /// Takes one raw message through the pipeline. `label` names it in the report and in
    /// errors (a file name, or `mailbox/uid`), never in logs at info level.
    pub async fn ingest(&self, raw: Vec<u8>, label: &str, origin: &Origin) -> Result<Outcome, Error> {
        let size = i64::try_from(raw.len()).unwrap_or(i64::MAX);
        let blobs = self.blobs.clone();
        let (raw, sha) = tokio::task::spawn_blocking(move || {
            let sha = blobs.put(&raw);
            (raw, sha)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        let sha = sha?;

        let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        let (row, _new) = inbound::record(&mut conn, &sha, size, origin).await?;
        drop(conn);
        if row.state.is_decided() {
            return self.outcome_of(&row, true).await;
        }
        if row.state == MessageState::Error && row.attempts >= self.max_attempts {
            return self.outcome_of(&row, false).await;
        }
        self.process(row.id, raw, label).await
    }

    /// Takes a message in state `error` through the pipeline again, from its stored bytes.
    pub async fn retry(&self, id: InboundId, raw_sha256: Sha256, label: &str) -> Result<Outcome, Error> {
        let blobs = self.blobs.clone();
        let raw = tokio::task::spawn_blocking(move || blobs.get(&raw_sha256))
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        match raw {
            Ok(raw) => self.process(id, raw, label).await,
            Err(e @ sigillo_store::Error::Blob { .. }) => {
                // The stored copy is missing or damaged: a fault of this message, to be seen
                // by people; the mailbox copy stays where it is.
                self.fail(id, &format!("copia archiviata non utilizzabile: {e}")).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn process(&self, id: InboundId, raw: Vec<u8>, label: &str) -> Result<Outcome, Error> {
        let mut report = match self.classify(raw, label).await {
            Ok(r) => r,
            Err(Fault(cause)) => return self.fail(id, &cause).await,
        };
        // A signature whose revocation status could not be had now (responder down) is
        // never decided on: the message waits for a later attempt, and only the last one
        // lets it go to review.
        if let Some(why) = try_later(&report) {
            let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
            let attempts = inbound::by_id(&mut conn, id).await?.attempts;
            drop(conn);
            if attempts + 1 < self.max_attempts {
                return self.fail(id, &format!("stato di revoca non ottenibile ora, nuovo tentativo più tardi: {why}")).await;
            }
        }
        // The decision actually taken, under the comune's policy in force now; the receipt or
        // notice below follows it because it reads the same report.
        let policy = {
            let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
            sigillo_store::policy::current(&mut conn, self.policy).await?
        };
        if crate::policy::apply(&mut report, &policy) {
            tracing::debug!(inbound_id = %id, decision = ?report.decision, "decision changed by the comune's policy");
        }
        let plan = Plan::from_report(&report);
        // Documents are content-addressed and written once: storing them before the
        // transaction costs nothing if it rolls back.
        if plan.state == MessageState::Registered {
            let blobs = self.blobs.clone();
            // Moved out of the report, not copied (a document can be most of the message):
            // the contents are never serialised and nothing after this reads them. The
            // digest is written back so that `new_registration` never needs the bytes.
            // The message text too: it is the primary document of a message without
            // attachments (`registration_from_report`).
            let body_only = report.attachments.is_empty();
            let contents: Vec<(Vec<u8>, Sha256)> = report
                .attachments
                .iter_mut()
                .map(|a| &mut a.attachment)
                .chain(report.pec.body.as_mut().filter(|_| body_only))
                .map(|a| {
                    let sha = document_digest(a);
                    a.sha256 = sha.to_hex();
                    (std::mem::take(&mut a.content), sha)
                })
                .collect();
            tokio::task::spawn_blocking(move || {
                contents.into_iter().try_for_each(|(c, sha)| blobs.put_with_digest(&c, sha).map(|_| ()))
            })
                .await
                .map_err(|e| Error::Task(e.to_string()))??;
        }
        // Two copies of one PEC decided at the same moment: the unique index lets one through
        // and the other one, decided again, finds it as the owner.
        let mut tries = 0;
        loop {
            tries += 1;
            match self.decide(id, &report, &plan).await {
                Ok(outcome) => return Ok(outcome),
                Err(DecideError::PecRace) if tries < 3 => continue,
                Err(DecideError::PecRace) => {
                    return self.fail(id, "decisione concorrente sulla stessa PEC non risolta").await;
                }
                Err(DecideError::Fault(cause)) => return self.fail(id, &cause).await,
                Err(DecideError::Infra(e)) => return Err(e),
            }
        }
    }

    /// Runs the classifier on a blocking thread. Its panics end that thread's task, not the
    /// service: the join error says so and the message is set aside.
    async fn classify(&self, raw: Vec<u8>, label: &str) -> Result<MessageReport, Fault> {
        // The trusted lists' services are in it, each an anchor for the signatures judged
        // while it was granted (the attachments at the PEC's time, a timestamp at its own).
        let checker = self.checker.current();
        let when = ValidationTime::now(self.clock.now());
        let classifier = self.classifier;
        let label = label.to_owned();
        let classify = move || -> Result<MessageReport, PecError> { classifier(&checker, &label, &raw, when) };
        match tokio::task::spawn_blocking(classify).await {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(e)) => Err(Fault(format!("messaggio non classificabile: {e}"))),
            Err(join) if join.is_panic() => {
                let payload = join.into_panic();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(Fault(format!("errore interno del classificatore (panic): {msg}")))
            }
            Err(join) => Err(Fault(format!("classificazione interrotta: {join}"))),
        }
    }

    async fn decide(&self, id: InboundId, report: &MessageReport, plan: &Plan) -> Result<Outcome, DecideError> {
        let mut tx = self.pool.begin().await.map_err(infra)?;
        let row = inbound::lock(&mut tx, id).await.map_err(classify_store)?;
        if row.state.is_decided() {
            // Decided by another process while we classified: that decision stands.
            drop(tx);
            return self.outcome_of(&row, true).await.map_err(DecideError::Infra);
        }
        let daticert = report.pec.daticert.as_ref();
        let ident = daticert.and_then(|d| d.identificativo.clone());
        let msgid = daticert.and_then(|d| d.msgid.clone());
        let is_transport = plan.pec_type == PecType::PostaCertificata;

        if is_transport
            && let Some(ident) = &ident
            && let Some(owner) = inbound::pec_owner(&mut tx, ident, msgid.as_deref(), id).await.map_err(classify_store)?
        {
            let decided = Decided {
                state: owner.state,
                reasons: owner.reasons.clone(),
                sender: report.pec.sender(),
                subject: report.pec.subject(),
                pec_type: Some(plan.pec_type),
                pec_receipt: plan.pec_receipt.clone(),
                pec_identificativo: Some(ident.clone()),
                pec_msgid: msgid.clone(),
                duplicate_of: Some(owner.id),
                report: serde_json::to_value(report).ok(),
            };
            inbound::decide(&mut tx, id, &decided).await.map_err(classify_store)?;
            tx.commit().await.map_err(classify_sqlx)?;
            let mut conn = self.pool.acquire().await.map_err(infra)?;
            let protocol = inbound::registration_of(&mut conn, &self.register, id).await.map_err(|e| DecideError::Infra(e.into()))?;
            return Ok(Outcome {
                inbound_id: id,
                raw_sha256: row.raw_sha256.to_hex(),
                state: owner.state,
                decision: decision_of(owner.state),
                reasons: read_reasons(&owner.reasons),
                protocol,
                duplicate: true,
                error: None,
                attempts: row.attempts,
                quarantined: false,
            });
        }

        // The decision is written first: registering takes the register's lock, held until the
        // commit, and every registration of the AOO waits for it, so the transaction does its
        // other work before taking it (the outbox's receipt needs the number, so it follows).
        let decided = Decided {
            state: plan.state,
            reasons: plan.reasons.clone(),
            sender: report.pec.sender(),
            subject: report.pec.subject(),
            pec_type: Some(plan.pec_type),
            pec_receipt: plan.pec_receipt.clone(),
            pec_identificativo: ident,
            pec_msgid: msgid,
            duplicate_of: None,
            report: serde_json::to_value(report).ok(),
        };
        inbound::decide(&mut tx, id, &decided).await.map_err(classify_store)?;

        let mut registered = None;
        let protocol = if plan.state == MessageState::Registered {
            let new = registration_from_report(report, id);
            let reg = register::register(&mut tx, &self.register, &self.actor, &new, None)
                .await
                .map_err(classify_store)?;
            registered = Some(crate::receipt::registered(&reg, &new));
            Some(LinkedRegistration {
                id: reg.id,
                year: reg.year,
                number: reg.number,
                registered_at: reg.registered_at,
                segnatura: reg.segnatura,
            })
        } else {
            None
        };
        let mut queued = false;
        if let Some(config) = &self.outbox {
            match plan.state {
                MessageState::Registered | MessageState::Rejected => {
                    let outcome = notify_outbox::enqueue_for_decision(&mut tx, config, id, report, registered.as_ref())
                        .await
                        .map_err(classify_notify)?;
                    queued = matches!(outcome, NoticeOutcome::Queued { .. });
                }
                MessageState::Receipt => {
                    notify_outbox::link_provider_receipt(&mut tx, report, id).await.map_err(classify_notify)?;
                }
                _ => {}
            }
        }
        tx.commit().await.map_err(classify_sqlx)?;
        if queued && let Some(wake) = &self.wake {
            wake.notify_one();
        }
        Ok(Outcome {
            inbound_id: id,
            raw_sha256: row.raw_sha256.to_hex(),
            state: plan.state,
            decision: decision_of(plan.state),
            reasons: report.reasons.clone(),
            protocol,
            duplicate: false,
            error: None,
            attempts: row.attempts,
            quarantined: false,
        })
    }

    /// Records a fault of the message and reports it.
    async fn fail(&self, id: InboundId, cause: &str) -> Result<Outcome, Error> {
        let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        inbound::record_error(&mut conn, id, cause).await?;
        tracing::warn!(inbound_id = %id, "message set aside: {cause}");
        let row = inbound::by_id(&mut conn, id).await?;
        drop(conn);
        self.outcome_of(&row, false).await
    }

    async fn outcome_of(&self, row: &Inbound, duplicate: bool) -> Result<Outcome, Error> {
        let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        let protocol = if row.state == MessageState::Registered {
            inbound::registration_of(&mut conn, &self.register, row.id).await?
        } else {
            None
        };
        let in_error = row.state == MessageState::Error;
        Ok(Outcome {
            inbound_id: row.id,
            raw_sha256: row.raw_sha256.to_hex(),
            state: row.state,
            decision: decision_of(row.state),
            reasons: read_reasons(&row.reasons),
            protocol,
            duplicate,
            error: if in_error { row.last_error.clone() } else { None },
            attempts: row.attempts,
            quarantined: in_error && row.attempts >= self.max_attempts,
        })
    }
}

/// The envelope or the first attachment signature judged TRY_LATER (revocation status not
/// obtainable now), with its detail.
fn try_later(report: &MessageReport) -> Option<String> {
    let envelope = &report.pec.envelope_signature;
    if envelope.try_later() {
        return Some(format!("firma del gestore PEC: {}", envelope.detail.as_deref().unwrap_or_default()));
    }
    report.attachments.iter().filter_map(|a| a.signature.as_ref()).find_map(|s| {
        let signer = s.signers.iter().find(|r| r.subindication == Some(sigillo_pec::SubIndication::TryLater));
        let document = s.subindication == Some(sigillo_pec::SubIndication::TryLater);
        (document || signer.is_some()).then(|| signer.map_or_else(|| s.detail.clone(), |r| r.detail.clone()))
    })
}

enum DecideError {
    /// Another copy of the same PEC was decided concurrently.
    PecRace,
    Fault(String),
    Infra(Error),
}

fn infra(e: sqlx::Error) -> DecideError {
    DecideError::Infra(Error::Store(sigillo_store::Error::from(e)))
}

fn classify_sqlx(e: sqlx::Error) -> DecideError {
    classify_store(sigillo_store::Error::from(e))
}

/// Sorts a store error into "this message's data is refused" (retrying later will not help
/// much, so it counts as an attempt) and "the database is not usable now" (nothing decided,
/// try again).
fn classify_store(e: sigillo_store::Error) -> DecideError {
    use sigillo_store::Error as S;
    match e {
        S::Database(sqlx::Error::Database(db)) if db.constraint() == Some("inbound_messages_pec_unique") => {
            DecideError::PecRace
        }
        // SQLSTATE class 22 (data exception) and 23 (integrity): the data is refused.
        S::Database(sqlx::Error::Database(db))
            if db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
        {
            DecideError::Fault(format!("dati rifiutati dal registro: {}", db.message()))
        }
        S::Invalid { .. } | S::Immutable(_) | S::MessageAlreadyRegistered(_) => {
            DecideError::Fault(format!("dati rifiutati dal registro: {e}"))
        }
        other => DecideError::Infra(Error::Store(other)),
    }
}

/// A failure of the automatic answer: the database's are sorted as the store's; one that
/// composing the message raises is a fault of this message (its decision is retried with it).
fn classify_notify(e: sigillo_notify::Error) -> DecideError {
    match e {
        sigillo_notify::Error::Store(e) => classify_store(e),
        other => DecideError::Fault(format!("risposta automatica non composta: {other}")),
    }
}

/// The reasons stored with a decision, read back as the classifier's type. They are written
/// only from that type, so a row that does not read is damaged: said in the log, not hidden.
fn read_reasons(stored: &serde_json::Value) -> Vec<Reason> {
    Vec::<Reason>::deserialize(stored).unwrap_or_else(|e| {
        tracing::warn!("stored reasons not readable: {e}");
        Vec::new()
    })
}
