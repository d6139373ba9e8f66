//! Read models of the staff dashboard and of the JSON API: counts, the searchable list with
//! keyset pagination, one registration with everything around it, the message queues and
//! the audit trail.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::codes::ProtocolNumber;
use crate::audit::AuditAction;
use crate::decisions::MessageAction;
use crate::ids::{InboundId, RegistrationId};
use crate::inbound::MessageState;
use crate::register::{Channel, Direction, DocumentRole, PaperDelivery, Register, Sha256};

/// The home page's counts for one day.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DayCounts {
    pub received: i64,
    pub registered: i64,
    pub rejected: i64,
    pub to_review: i64,
}

pub async fn day_counts(
    conn: &mut PgConnection,
    register: &Register,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<DayCounts, Error> {
    let r = sqlx::query!(
        r#"
        select
          (select count(*) from inbound_messages where first_seen_at >= $1 and first_seen_at < $2) as "received!",
          (select count(*) from registrations where register_id = $3 and registered_at >= $1 and registered_at < $2) as "registered!",
          (select count(*) from inbound_messages where state = 'rejected' and updated_at >= $1 and updated_at < $2) as "rejected!",
          (select count(*) from inbound_messages where state = 'review') as "to_review!"
        "#,
        from,
        to,
        register.id,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(DayCounts { received: r.received, registered: r.registered, rejected: r.rejected, to_review: r.to_review })
}

/// Receipts of registration the citizen may not have: the ones out of attempts, and the
/// ones sent more than an hour ago whose delivery the provider has not certified
/// (`consegnata`). Suppressed ones are deliberate and not counted; a row superseded by a
/// re-send counts until the re-send is delivered (only the latest row of a message counts).
pub async fn undelivered_receipts(conn: &mut PgConnection) -> Result<i64, Error> {
    let n = sqlx::query_scalar!(
        r#"
        select count(*) as "n!" from outbox o
        where o.kind = 'ricevuta'
          and not exists (select 1 from outbox later
                          where later.inbound_message_id = o.inbound_message_id
                            and later.kind = 'ricevuta' and later.id > o.id)
          and (o.state = 'failed'
               or (o.state = 'sent' and o.sent_at < now() - interval '1 hour'
                   and o.delivery is distinct from 'consegnata'))
        "#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

/// Which registrations the list shows by annulment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    All,
    Active,
    Annulled,
}

impl StateFilter {
    pub(crate) fn as_sql(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Active => "active",
            StateFilter::Annulled => "annulled",
        }
    }
}

/// Search text, parsed once: the words for full-text search and, for words of three or more
/// characters, an ILIKE pattern with `%`, `_` and `\` escaped so that they are just text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    text: String,
    like: Option<String>,
}

impl SearchText {
    /// `None` for blank input. Longer than 200 characters is refused.
    pub fn parse(s: &str) -> Result<Option<Self>, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > 200 {
            return Err(Error::invalid("search text", "longer than 200 characters"));
        }
        // Trigram indexes cannot help below three characters: such a pattern would read the
        // whole table, so short words are left to full-text search.
        let like = (s.chars().count() >= 3).then(|| format!("%{}%", like_escape(s)));
        Ok(Some(SearchText { text: s.to_owned(), like }))
    }

    /// The text as typed (trimmed), for full-text search.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its ILIKE pattern; `None` under three characters.
    pub fn like(&self) -> Option<&str> {
        self.like.as_deref()
    }
}

/// Escapes LIKE's metacharacters (the default escape character is `\`).
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The filters of the registrations list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub state: StateFilter,
    /// Part of the sender's name or address.
    pub sender: Option<String>,
    pub text: Option<SearchText>,
    /// Keyset pagination: only registrations with an id below this one.
    pub before_id: Option<RegistrationId>,
    /// Rows skipped before the page (the dashboard's numbered pages); 0 with keyset pages.
    pub offset: i64,
}

/// One line of the list.
#[derive(Debug, Clone, Serialize)]
pub struct ListedRegistration {
    pub id: RegistrationId,
    pub year: i32,
    pub number: ProtocolNumber,
    pub segnatura: String,
    pub registered_at: DateTime<Utc>,
    pub correspondent_name: Option<String>,
    pub correspondent_address: Option<String>,
    pub subject: String,
    pub annulled: bool,
    pub documents: i32,
    pub office: Option<String>,
    pub direction: Direction,
    pub channel: Channel,
}

/// A page of the list, newest first, and the cursor of the next page when there is one.
pub async fn list(
    conn: &mut PgConnection,
    register: &Register,
    filter: &ListFilter,
    limit: i64,
) -> Result<(Vec<ListedRegistration>, Option<RegistrationId>), Error> {
    let sender = filter.sender.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("%{}%", like_escape(s)));
    let state = filter.state.as_sql();
    let fetch = limit + 1;
    // Two statements rather than one with an optional text predicate: the plans differ
    // (index on id vs. full-text/trigram bitmaps) and a generic plan would serve neither.
    let rows = match &filter.text {
        None => {
            sqlx::query_file!(
                "queries/list_registrations.sql",
                register.id,
                filter.from,
                filter.to,
                state,
                sender,
                filter.before_id.map(RegistrationId::get),
                fetch,
                filter.offset.max(0),
            )
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r.year, r.number, r.registered_at, r.segnatura, r.correspondent_name, r.correspondent_address, r.subject, r.annulled, r.documents, r.office, r.direction, r.channel))
            .collect::<Vec<_>>()
        }
        Some(text) => {
            sqlx::query_file!(
                "queries/search_registrations.sql",
                register.id,
                filter.from,
                filter.to,
                state,
                sender,
                filter.before_id.map(RegistrationId::get),
                text.text,
                // NULL never matches ILIKE: short words are searched by full text only.
                text.like,
                fetch,
                filter.offset.max(0),
            )
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r.year, r.number, r.registered_at, r.segnatura, r.correspondent_name, r.correspondent_address, r.subject, r.annulled, r.documents, r.office, r.direction, r.channel))
            .collect::<Vec<_>>()
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for (id, year, number, registered_at, segnatura, correspondent_name, correspondent_address, subject, annulled, documents, office, direction, channel) in rows {
        let number = ProtocolNumber::parse(number)?;
        out.push(ListedRegistration {
            id,
            year,
            number,
            segnatura,
            registered_at,
            correspondent_name,
            correspondent_address,
            subject,
            annulled,
            documents,
            office,
            direction,
            channel,
        });
    }
    let next = if out.len() as i64 > limit {
        out.truncate(usize::try_from(limit).unwrap_or(0));
        out.last().map(|r| r.id)
    } else {
        None
    };
    Ok((out, next))
}

#[derive(Debug, Clone, Serialize)]
pub struct AnnulmentInfo {
    pub annulled_at: DateTime<Utc>,
    pub annulled_by: String,
    pub reason: String,
    pub authorising_act: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentInfo {
    pub id: i64,
    pub ordinal: i32,
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: Sha256,
    pub role: DocumentRole,
    pub signature_report: Option<serde_json::Value>,
}

/// The stored message a registration came from.
#[derive(Debug, Clone, Serialize)]
pub struct MessageInfo {
    pub id: InboundId,
    pub raw_sha256: Sha256,
    pub raw_size: i64,
    pub first_seen_at: DateTime<Utc>,
    pub pec_identificativo: Option<String>,
    pub pec_msgid: Option<String>,
    pub reasons: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub details: serde_json::Value,
}

/// A correspondent of a registration (sender or recipient).
#[derive(Debug, Clone, Serialize)]
pub struct CorrespondentInfo {
    pub name: String,
    pub tax_code: Option<String>,
    pub address: Option<String>,
}

/// Everything about one registration.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationDetail {
    pub id: RegistrationId,
    pub year: i32,
    pub number: ProtocolNumber,
    pub segnatura: String,
    pub registered_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub direction: Direction,
    pub correspondent_name: Option<String>,
    pub correspondent_address: Option<String>,
    pub subject: String,
    pub sender_protocol_number: Option<String>,
    pub sender_protocol_date: Option<NaiveDate>,
    pub created_by: String,
    pub channel: Channel,
    pub paper_delivery: Option<PaperDelivery>,
    pub paper_attachments: i32,
    /// Every correspondent in order; for a PEC, the one of the record's own columns.
    pub correspondents: Vec<CorrespondentInfo>,
    pub annulment: Option<AnnulmentInfo>,
    pub documents: Vec<DocumentInfo>,
    pub message: Option<MessageInfo>,
}

/// One registration of `register` by id; `NotFound` for an id of another register too.
pub async fn registration(conn: &mut PgConnection, register: &Register, id: RegistrationId) -> Result<RegistrationDetail, Error> {
    let r = sqlx::query!(
        r#"
        select r.id as "id: RegistrationId", r.year, r.number, r.registered_at, r.received_at, r.segnatura,
               r.direction as "direction: Direction", r.correspondent_name, r.correspondent_address,
               r.subject, r.sender_protocol_number, r.sender_protocol_date, r.created_by,
               r.inbound_message_id as "inbound_message_id: InboundId",
               r.channel as "channel: Channel", r.paper_delivery as "paper_delivery: PaperDelivery",
               r.paper_attachments,
               a.annulled_at as "annulled_at?", a.annulled_by as "annulled_by?",
               a.reason as "reason?", a.authorising_act as "authorising_act?"
        from registrations r left join annulments a on a.registration_id = r.id
        where r.id = $1 and r.register_id = $2
        "#,
        id.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("registration id {id}") })?;
    let number = ProtocolNumber::parse(r.number)?;
    let annulment = match (r.annulled_at, r.annulled_by, r.reason, r.authorising_act) {
        (Some(annulled_at), Some(annulled_by), Some(reason), Some(authorising_act)) => {
            Some(AnnulmentInfo { annulled_at, annulled_by, reason, authorising_act })
        }
        _ => None,
    };
    let docs = sqlx::query!(
        r#"
        select id, ordinal, name, media_type, size_bytes, sha256, role as "role: DocumentRole", signature_report
        from documents where registration_id = $1 order by ordinal
        "#,
        id.get(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut documents = Vec::with_capacity(docs.len());
    for d in docs {
        documents.push(DocumentInfo {
            id: d.id,
            ordinal: d.ordinal,
            name: d.name,
            media_type: d.media_type,
            size_bytes: d.size_bytes,
            sha256: Sha256::from_slice(&d.sha256)?,
            role: d.role,
            signature_report: d.signature_report,
        });
    }
    let mut correspondents = sqlx::query_as!(
        CorrespondentInfo,
        "select name, tax_code, address from correspondents where registration_id = $1 order by ordinal",
        id.get(),
    )
    .fetch_all(&mut *conn)
    .await?;
    if correspondents.is_empty()
        && let Some(name) = r.correspondent_name.clone().or_else(|| r.correspondent_address.clone())
    {
        correspondents.push(CorrespondentInfo { name, tax_code: None, address: r.correspondent_address.clone() });
    }
    let message = match r.inbound_message_id {
        None => None,
        Some(mid) => {
            let m = sqlx::query!(
                r#"
                select id as "id: InboundId", raw_sha256, raw_size, first_seen_at, pec_identificativo, pec_msgid, reasons
                from inbound_messages where id = $1
                "#,
                mid.get(),
            )
            .fetch_one(&mut *conn)
            .await?;
            Some(MessageInfo {
                id: m.id,
                raw_sha256: Sha256::from_slice(&m.raw_sha256)?,
                raw_size: m.raw_size,
                first_seen_at: m.first_seen_at,
                pec_identificativo: m.pec_identificativo,
                pec_msgid: m.pec_msgid,
                reasons: m.reasons,
            })
        }
    };
    Ok(RegistrationDetail {
        id: r.id,
        year: r.year,
        number,
        segnatura: r.segnatura,
        registered_at: r.registered_at,
        received_at: r.received_at,
        direction: r.direction,
        correspondent_name: r.correspondent_name,
        correspondent_address: r.correspondent_address,
        subject: r.subject,
        sender_protocol_number: r.sender_protocol_number,
        sender_protocol_date: r.sender_protocol_date,
        created_by: r.created_by,
        channel: r.channel,
        paper_delivery: r.paper_delivery,
        paper_attachments: r.paper_attachments,
        correspondents,
        annulment,
        documents,
        message,
    })
}

/// The audit entries about one object, oldest first.
pub async fn history(conn: &mut PgConnection, object_type: &str, object_id: &str) -> Result<Vec<HistoryEntry>, Error> {
    Ok(sqlx::query_as!(
        HistoryEntry,
        r#"
        select id, at, actor, action as "action: AuditAction", details from audit_log
        where object_type = $1 and object_id = $2 order by id
        "#,
        object_type,
        object_id,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// A document of a registration, for download: only when it belongs to that registration
/// of that register, so an id taken from another registration is refused.
#[derive(Debug, Clone)]
pub struct DocumentBlob {
    pub name: String,
    pub media_type: String,
    pub sha256: Sha256,
}

pub async fn document(
    conn: &mut PgConnection,
    register: &Register,
    registration_id: RegistrationId,
    document_id: i64,
) -> Result<DocumentBlob, Error> {
    let d = sqlx::query!(
        r#"
        select d.name, d.media_type, d.sha256 from documents d
        join registrations r on r.id = d.registration_id
        where d.id = $1 and d.registration_id = $2 and r.register_id = $3
        "#,
        document_id,
        registration_id.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("document {document_id} of registration {registration_id}") })?;
    Ok(DocumentBlob { name: d.name, media_type: d.media_type, sha256: Sha256::from_slice(&d.sha256)? })
}

/// A message waiting for, or refused by, the pipeline, with the office's decisions on it.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedMessage {
    pub id: InboundId,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub raw_size: i64,
    pub reasons: serde_json::Value,
    pub pec_identificativo: Option<String>,
    pub last_action: Option<MessageAction>,
    pub registration_id: Option<RegistrationId>,
    /// The sender as the provider certified it (daticert), else the original `From`.
    pub sender: Option<String>,
    /// The original message's subject, else the one in daticert.
    pub subject: Option<String>,
}

/// A message the office is deciding on, as its confirmation page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageDetail {
    pub id: InboundId,
    pub state: MessageState,
    pub first_seen_at: DateTime<Utc>,
    pub raw_size: i64,
    pub reasons: serde_json::Value,
    pub sender: Option<String>,
    pub subject: Option<String>,
    /// The classifier's report as stored (`sigillo check --json` shape): the caller reads it
    /// through the classifier's types.
    pub report: Option<serde_json::Value>,
    pub duplicate_of: Option<InboundId>,
    pub registration_id: Option<RegistrationId>,
}

/// One message with what the office needs to decide on it.
pub async fn message_detail(conn: &mut PgConnection, id: InboundId) -> Result<MessageDetail, Error> {
    sqlx::query_as!(
        MessageDetail,
        r#"
        select m.id as "id: InboundId", m.state as "state: MessageState", m.first_seen_at, m.raw_size, m.reasons,
               m.sender, m.subject,
               m.report,
               m.duplicate_of as "duplicate_of: InboundId",
               (select r.id from registrations r where r.inbound_message_id = m.id) as "registration_id: RegistrationId"
        from inbound_messages m where m.id = $1
        "#,
        id.get(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("message {id}") })
}

/// One audit entry as the audit page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
    pub hash: Vec<u8>,
}

/// Which audit entries the audit page shows: every field `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Who acted (a staff username or a system actor such as `intake`).
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    /// Entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// Audit entries matching `filter` below `before_id` (all when `None`), newest first.
pub async fn audit_page(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, Error> {
    Ok(sqlx::query_as!(
        AuditRow,
        r#"
        select id, at, actor, action as "action: AuditAction", object_type, object_id, details, hash
        from audit_log
        where ($1::bigint is null or id < $1)
          and ($3::text is null or actor = $3)
          and ($4::audit_action is null or action = $4)
          and ($5::timestamptz is null or at >= $5)
          and ($6::timestamptz is null or at < $6)
        order by id desc limit $2
        "#,
        before_id,
        limit,
        filter.actor,
        filter.action as Option<AuditAction>,
        filter.from,
        filter.until,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Everybody who has acted in the audit trail: the staff accounts and the system actors
/// (for the audit page's filter; reading the distinct actors of the whole trail would scan it).
pub async fn audit_actors(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    let mut names: Vec<String> = crate::register::SYSTEM_ACTORS.iter().map(|s| (*s).to_owned()).collect();
    names.extend(
        sqlx::query_scalar!("select username from staff_users order by username").fetch_all(&mut *conn).await?,
    );
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_escape(r"100%_a\b"), r"100\%\_a\\b");
        let t = SearchText::parse("  50%  ").unwrap().unwrap();
        assert_eq!(t.like.as_deref(), Some(r"%50\%%"));
        assert_eq!(SearchText::parse("ab").unwrap().unwrap().like, None);
        assert!(SearchText::parse("   ").unwrap().is_none());
        assert!(SearchText::parse(&"x".repeat(201)).is_err());
    }
}
