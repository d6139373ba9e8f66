//! The home page: today's work and what needs attention. Every counter leads to the list
//! it counts; failures (receipts the citizen may not have, messages the intake could not
//! process, PEC mailboxes the intake cannot read) are listed with a link to each; and the
//! latest check of the blob store.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use sigillo_store::export::{Period, period_bounds};
use sigillo_store::outbox::{Delivery, OutboxState};

use super::{Layout, today};
use crate::auth::CurrentUser;
// The template calls `|visible` on what citizens wrote (subjects in the uses of a blob).
use crate::format::filters;
use crate::format::{date_it, datetime_it, int_it, size_it};
use crate::labels::mailbox_fault_it;
use crate::{AppError, AppState};

/// How many failures of each kind the page lists (the counters give the total).
const LISTED: i64 = 10;

pub struct ReceiptProblem {
    pub link: Option<String>,
    pub label: String,
    pub what: &'static str,
    pub at: String,
}

pub struct IntakeProblem {
    pub id: String,
    pub at: String,
    pub attempts: i32,
    pub error: String,
}

/// A PEC mailbox of the intake: read normally, or failing since some time.
pub struct MailboxView {
    /// `utente@server:porta` and the folder.
    pub name: String,
    pub last_ok: Option<String>,
    pub failing: Option<MailboxFailingView>,
}

pub struct MailboxFailingView {
    pub since: String,
    pub what: &'static str,
    pub at: String,
    pub failures: i32,
    /// The technical message, for the sysadmin.
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    layout: Layout,
    day: String,
    /// `YYYY-MM-DD` of today, for the list links.
    iso_day: String,
    received: String,
    registered: String,
    rejected: String,
    to_review: String,
    undecided_rejected: String,
    undelivered: String,
    /// Registrations without a class yet (one row read, see `sigillo_store::titolario`).
    to_classify: String,
    receipts: Vec<ReceiptProblem>,
    /// Registrations in partenza whose PEC to a recipient failed (`super::outgoing::failures`).
    outgoing_failed: Vec<super::outgoing::FailureView>,
    outgoing_failed_count: String,
    in_error: String,
    intake: Vec<IntakeProblem>,
    mailboxes: Vec<MailboxView>,
    blob_check: Option<BlobCheckView>,
    /// A trusted list stale or not refreshed; `None` when all is well.
    trusted_lists: Option<String>,
    /// The logged-in person's assignments (and the protocol office's refused ones).
    inbox: super::assignments::CountsView,
    can_inbox: bool,
}

/// The latest check of the blob store, as the home page shows it.
pub struct BlobCheckView {
    pub at: String,
    /// "tutto l'archivio" or "il 10% dell'archivio".
    pub scope: String,
    pub blobs: String,
    pub size: String,
    /// Damaged and missing blobs, the damaged first.
    pub damaged: Vec<DamagedView>,
    pub damaged_count: usize,
    pub missing_count: usize,
}

/// A damaged blob: its digest, what is wrong, what uses it, and whether it is still damaged
/// now (storing the same bytes again may have repaired it since).
pub struct DamagedView {
    pub sha256: String,
    /// Referenced by the database but absent from the store (else: its content is wrong).
    pub missing: bool,
    pub uses: Vec<String>,
    pub still_damaged: bool,
}

pub async fn show(State(state): State<AppState>, user: CurrentUser) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    // Office staff see neither the queues nor the register: their home is their inbox.
    if user.0.role == sigillo_store::staff::Role::Ufficio {
        return super::assignments::office_home(&state, &user).await;
    }
    let register = state.register();
    let tz = register.timezone;
    let day = today(tz);
    let (from, to) = period_bounds(register, Period::Day(day))?;
    let mut conn = state.pool().acquire().await?;
    let mine = sigillo_store::assignment::offices_of(&mut conn, user.0.user_id).await?;
    let inbox = super::assignments::counts(&mut conn, &state, &user, &mine).await?;
    let c = sigillo_store::browse::day_counts(&mut conn, register, from, to).await?;
    let undelivered = sigillo_store::browse::undelivered_receipts(&mut conn).await?;
    let receipts = sigillo_store::desk::undelivered_receipt_list(&mut conn, LISTED).await?;
    let (outgoing_failed, outgoing_failed_count) = super::outgoing::failures(&mut conn, tz, LISTED).await?;
    let rejected_queue = sigillo_store::desk::queue_counts(&mut conn, sigillo_store::inbound::MessageState::Rejected).await?;
    let (failed, in_error) = sigillo_store::desk::failed_messages(&mut conn, LISTED).await?;
    let mailboxes = sigillo_store::mailbox_health::all(&mut conn)
        .await?
        .into_iter()
        .map(|m| MailboxView {
            name: format!("{} ({})", m.account, m.mailbox),
            last_ok: m.last_ok_at.map(|t| datetime_it(t, tz)),
            failing: m.failing.map(|f| MailboxFailingView {
                since: datetime_it(f.since, tz),
                what: mailbox_fault_it(f.fault),
                at: datetime_it(f.at, tz),
                failures: f.failures,
                detail: f.error,
            }),
        })
        .collect();
    let to_classify = sigillo_store::titolario::to_classify_count(&mut conn, register).await?;
    let blob_check = match sigillo_store::blob_checks::latest(&mut conn).await? {
        None => None,
        Some(check) => {
            let mut damaged: Vec<(sigillo_store::register::Sha256, bool, Vec<String>)> = Vec::new();
            for d in &check.damaged {
                let uses = sigillo_store::blob_checks::uses_of(&mut conn, &d.hash).await?;
                let missing = d.fault == sigillo_store::blob::Fault::Missing;
                damaged.push((d.hash, missing, uses.iter().map(sigillo_store::blob_checks::Use::describe_it).collect()));
            }
            let missing_count = damaged.iter().filter(|d| d.1).count();
            // Looked at again now: a handful of files at most, and a repaired one must not
            // keep alarming the office until the next night.
            let blobs = state.blobs().clone();
            let hashes: Vec<_> = damaged.iter().map(|(h, _, _)| *h).collect();
            let still = tokio::task::spawn_blocking(move || {
                hashes.iter().map(|h| !matches!(blobs.check(h), Ok(sigillo_store::blob::Health::Intact { .. }))).collect::<Vec<bool>>()
            })
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
            Some(BlobCheckView {
                at: datetime_it(check.finished_at, register.timezone),
                scope: if check.prefixes >= 256 {
                    "tutto l'archivio".to_owned()
                } else {
                    format!("circa il {}% dell'archivio", (u32::from(check.prefixes) * 100).div_ceil(256))
                },
                blobs: int_it(check.blobs),
                size: size_it(check.bytes),
                damaged_count: damaged.len() - missing_count,
                missing_count,
                damaged: damaged
                    .into_iter()
                    .zip(still)
                    .map(|((h, missing, uses), still_damaged)| DamagedView { sha256: h.to_hex(), missing, uses, still_damaged })
                    .collect(),
            })
        }
    };
    drop(conn);
    let trusted_lists = super::trusted_lists::home_alert(&state, chrono::Utc::now()).await?;
    Ok(HomePage {
        trusted_lists,
        layout: Layout::new(&user, "home", "Cruscotto"),
        day: date_it(day),
        iso_day: day.format("%Y-%m-%d").to_string(),
        received: int_it(c.received),
        registered: int_it(c.registered),
        rejected: int_it(c.rejected),
        to_review: int_it(c.to_review),
        undecided_rejected: int_it(rejected_queue.undecided),
        undelivered: int_it(undelivered),
        to_classify: int_it(to_classify),
        receipts: receipts
            .into_iter()
            .map(|r| ReceiptProblem {
                link: r.registration_id.map(|id| format!("/registrazioni/{id}#ricevuta")),
                label: match (r.number, r.year) {
                    (Some(n), Some(y)) => format!("Protocollo n. {n}/{y}"),
                    _ => format!("Invio n. {}", r.outbox_id),
                },
                what: if r.state == OutboxState::Failed {
                    "invio non riuscito (tentativi esauriti)"
                } else {
                    match r.delivery {
                        Some(Delivery::ErroreConsegna) => "errore di consegna segnalato dal gestore",
                        Some(Delivery::NonAccettazione) => "non accettata dal gestore",
                        Some(Delivery::RilevazioneVirus) => "respinta per rilevazione di virus",
                        _ => "consegna non confermata da oltre un'ora",
                    }
                },
                at: datetime_it(r.created_at, tz),
            })
            .collect(),
        outgoing_failed,
        outgoing_failed_count: int_it(outgoing_failed_count),
        in_error: int_it(in_error),
        intake: failed
            .into_iter()
            .map(|m| IntakeProblem {
                id: m.id.to_string(),
                at: datetime_it(m.first_seen_at, tz),
                attempts: m.attempts,
                error: m.last_error.unwrap_or_default(),
            })
            .collect(),
        mailboxes,
        blob_check,
        can_inbox: crate::routes::ASSIGNEES.contains(&user.0.role),
        inbox,
    }
    .into_response())
}
