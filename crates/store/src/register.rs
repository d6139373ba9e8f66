//! Registrations: the gapless number, the art. 53 record, its documents, annulment.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::ids::{InboundId, RegistrationId};
use crate::codes::{AooCode, IpaCode, ProtocolNumber, RegisterCode};

/// One register of one AOO, as found (or created) in the database at start-up.
#[derive(Debug, Clone)]
pub struct Register {
    pub id: i64,
    pub ipa_code: IpaCode,
    pub aoo_code: AooCode,
    pub code: RegisterCode,
    /// The time zone whose calendar year numbers restart in (Europe/Rome).
    pub timezone: Tz,
}

impl Register {
    /// Finds the register of the configured AOO, creating the AOO and the register the first
    /// time: the configuration is the source of truth for these codes.
    pub async fn ensure(
        conn: &mut PgConnection,
        ipa_code: &IpaCode,
        aoo_code: &AooCode,
        code: &RegisterCode,
        timezone: Tz,
    ) -> Result<Register, Error> {
        let aoo_id = sqlx::query_scalar!(
            r#"
            insert into aoo (ipa_code, code) values ($1, $2)
            on conflict (ipa_code, code) do update set ipa_code = excluded.ipa_code
            returning id
            "#,
            ipa_code.as_str(),
            aoo_code.as_str(),
        )
        .fetch_one(&mut *conn)
        .await?;
        let id = sqlx::query_scalar!(
            r#"
            insert into registers (aoo_id, code) values ($1, $2)
            on conflict (aoo_id, code) do update set code = excluded.code
            returning id
            "#,
            aoo_id,
            code.as_str(),
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(Register {
            id,
            ipa_code: ipa_code.clone(),
            aoo_code: aoo_code.clone(),
            code: code.clone(),
            timezone,
        })
    }

    /// The segnatura of art. 55 / DPCM 3/12/2013 art. 9: amministrazione, AOO, register,
    /// date (in the register's time zone) and number, separated by `|`. Computed once, when
    /// the registration is made, and stored with it (`registrations.segnatura`): readers use
    /// the stored value, so a later change of the time zone or codes never rewrites it.
    pub fn segnatura(&self, number: ProtocolNumber, registered_at: DateTime<Utc>) -> String {
        let date = registered_at.with_timezone(&self.timezone).date_naive();
        format!(
            "{}|{}|{}|{}|{}",
            self.ipa_code,
            self.aoo_code,
            self.code,
            date.format("%Y-%m-%d"),
            number
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "direction", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
    Internal,
}

/// How a document reached the comune or leaves it (`channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "channel", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Posta elettronica certificata.
    Pec,
    /// Posta elettronica ordinaria.
    Peo,
    /// Paper: handed in, by post, by registered post ([`PaperDelivery`]).
    Carta,
    Fax,
    Altro,
}

impl Channel {
    pub const ALL: [Channel; 5] = [Channel::Pec, Channel::Peo, Channel::Carta, Channel::Fax, Channel::Altro];

    /// The name used by the API, the exports and the forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Pec => "pec",
            Channel::Peo => "peo",
            Channel::Carta => "carta",
            Channel::Fax => "fax",
            Channel::Altro => "altro",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The kind of a paper delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "paper_delivery", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaperDelivery {
    ConsegnaAMano,
    Posta,
    Raccomandata,
}

impl PaperDelivery {
    pub const ALL: [PaperDelivery; 3] = [PaperDelivery::ConsegnaAMano, PaperDelivery::Posta, PaperDelivery::Raccomandata];

    pub fn as_str(self) -> &'static str {
        match self {
            PaperDelivery::ConsegnaAMano => "consegna_a_mano",
            PaperDelivery::Posta => "posta",
            PaperDelivery::Raccomandata => "raccomandata",
        }
    }

    pub fn parse(s: &str) -> Option<PaperDelivery> {
        PaperDelivery::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Incoming, Direction::Outgoing, Direction::Internal];

    /// The Italian name the API and the forms use (`arrivo`, `partenza`, `interno`).
    pub fn as_it(self) -> &'static str {
        match self {
            Direction::Incoming => "arrivo",
            Direction::Outgoing => "partenza",
            Direction::Internal => "interno",
        }
    }

    pub fn parse_it(s: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_it() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "document_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum DocumentRole {
    Primary,
    Attachment,
}

/// A SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        <[u8; 32]>::try_from(bytes)
            .map(Sha256)
            .map_err(|_| Error::invalid("sha256", format!("{} bytes instead of 32", bytes.len())))
    }

    pub fn parse_hex(s: &str) -> Result<Self, Error> {
        let bytes = hex::decode(s).map_err(|e| Error::invalid("sha256", e.to_string()))?;
        Self::from_slice(&bytes)
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A document to register with its registration.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub name: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: Sha256,
    pub role: DocumentRole,
    pub signature_report: Option<serde_json::Value>,
}

/// What a caller supplies; the number, year and registration time are the system's.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub direction: Direction,
    pub correspondent_name: Option<String>,
    pub correspondent_address: Option<String>,
    pub subject: String,
    pub sender_protocol_number: Option<String>,
    pub sender_protocol_date: Option<NaiveDate>,
    pub received_at: Option<DateTime<Utc>>,
    pub inbound_message_id: Option<InboundId>,
    pub documents: Vec<NewDocument>,
}

/// A correspondent as given (already validated by `sigillo_protocol::desk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewCorrespondent {
    pub name: String,
    /// Codice fiscale or partita IVA, upper case.
    pub tax_code: Option<String>,
    pub address: Option<String>,
}

/// Where a registration comes from besides its art. 53 record: the channel, for paper the
/// kind of delivery and the attachments on paper, and every correspondent. The PEC intake's
/// is [`Provenance::pec`]: its one correspondent is in the record's own columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub channel: Channel,
    pub paper_delivery: Option<PaperDelivery>,
    pub paper_attachments: i32,
    /// Written to `correspondents`, in order; the first one should also be the record's
    /// `correspondent_name` / `correspondent_address`.
    pub correspondents: Vec<NewCorrespondent>,
}

impl Provenance {
    pub fn pec() -> Self {
        Provenance { channel: Channel::Pec, paper_delivery: None, paper_attachments: 0, correspondents: Vec::new() }
    }
}

/// A registration as written.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub id: RegistrationId,
    pub year: i32,
    pub number: ProtocolNumber,
    pub registered_at: DateTime<Utc>,
    pub segnatura: String,
}

/// The names under which the system itself acts (`Actor::parse` of these literals): the PEC
/// intake, the web server's own acts (lockouts) and the command line. No staff account may
/// take one of them, or a person's act would read as automatic.
pub const SYSTEM_ACTORS: [&str; 3] = ["intake", "web", "cli"];

/// Who did something, for `created_by` and the audit trail: a staff username or a system
/// component such as `intake`.
#[derive(Debug, Clone)]
pub struct Actor(String);

impl Actor {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
            return Err(Error::invalid("actor", "empty, too long or with control characters"));
        }
        Ok(Actor(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Registers a document: takes the next number of (register, year) and writes the
/// registration, its documents and the audit entry, all on `conn`, which must be inside a
/// transaction that the caller commits. If that transaction rolls back, the number is given
/// again to the next registration: there is no gap.
///
/// `at` is the registration time; `None` (production) means the database clock at the moment
/// the register's lock is held, so numbers and times grow together. Tests pass a time to
/// exercise the year boundary.
pub async fn register(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    new: &NewRegistration,
    at: Option<DateTime<Utc>>,
) -> Result<Registration, Error> {
    register_via(conn, register, actor, new, &Provenance::pec(), at).await
}

/// [`register`] with the channel and correspondents of `via`: the one function every
/// registration goes through, whichever channel (PEC intake, desk, API), so that they share
/// one numbering, one transaction rule and one audit entry.
pub async fn register_via(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    new: &NewRegistration,
    via: &Provenance,
    at: Option<DateTime<Utc>>,
) -> Result<Registration, Error> {
    if new.subject.trim().is_empty() {
        return Err(Error::invalid("subject", "empty"));
    }
    if (via.channel == Channel::Carta) != via.paper_delivery.is_some() {
        return Err(Error::invalid("paper_delivery", "given for paper, and only for paper"));
    }
    if !(0..=9999).contains(&via.paper_attachments) {
        return Err(Error::invalid("paper_attachments", "from 0 to 9999"));
    }
    // Serialises the registrations of one register: the time is read after this lock, so a
    // higher number never carries an earlier time.
    sqlx::query!("select id from registers where id = $1 for update", register.id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("register {}", register.id) })?;

    let taken = sqlx::query!(
        r#"
        with t as (select coalesce($2::timestamptz, clock_timestamp()) as at)
        insert into register_counters as c (register_id, year, last_number)
        select $1, extract(year from t.at at time zone $3)::integer, 1 from t
        on conflict (register_id, year) do update set last_number = c.last_number + 1
        returning c.year, c.last_number, (select at from t) as "at!"
        "#,
        register.id,
        at,
        register.timezone.name(),
    )
    .fetch_one(&mut *conn)
    .await?;
    let number = ProtocolNumber::parse(taken.last_number)?;
    let registered_at = taken.at;

    let hashes: Vec<Vec<u8>> = new.documents.iter().map(|d| d.sha256.0.to_vec()).collect();
    // Fixed now (art. 55), written with the row and never computed again.
    let segnatura = register.segnatura(number, registered_at);
    let id = sqlx::query_scalar!(
        r#"
        insert into registrations (
            register_id, year, number, registered_at, received_at, direction,
            correspondent_name, correspondent_address, subject,
            sender_protocol_number, sender_protocol_date, document_hashes,
            inbound_message_id, created_by, segnatura, channel, paper_delivery, paper_attachments)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        returning id as "id: RegistrationId"
        "#,
        register.id,
        taken.year,
        number.get(),
        registered_at,
        new.received_at,
        new.direction as Direction,
        new.correspondent_name,
        new.correspondent_address,
        new.subject,
        new.sender_protocol_number,
        new.sender_protocol_date,
        &hashes,
        new.inbound_message_id.map(InboundId::get),
        actor.as_str(),
        segnatura,
        via.channel as Channel,
        via.paper_delivery as Option<PaperDelivery>,
        via.paper_attachments,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match crate::error::constraint(&e) {
        Some("registrations_message_unique") => {
            Error::MessageAlreadyRegistered(new.inbound_message_id.map_or(0, InboundId::get))
        }
        _ => Error::from(e),
    })?;

    for (ordinal, doc) in new.documents.iter().enumerate() {
        let ordinal = i32::try_from(ordinal).map_err(|_| Error::invalid("documents", "too many"))?;
        sqlx::query!(
            r#"
            insert into documents (registration_id, ordinal, name, media_type, size_bytes,
                                   sha256, role, signature_report)
            values ($1, $2, $3, $4, $5, $6, $7, $8)
            "#,
            id.get(),
            ordinal,
            doc.name,
            doc.media_type,
            doc.size_bytes,
            &doc.sha256.0[..],
            doc.role as DocumentRole,
            doc.signature_report,
        )
        .execute(&mut *conn)
        .await?;
    }

    for (ordinal, c) in via.correspondents.iter().enumerate() {
        let ordinal = i32::try_from(ordinal).map_err(|_| Error::invalid("correspondents", "too many"))?;
        sqlx::query!(
            "insert into correspondents (registration_id, ordinal, name, tax_code, address) values ($1, $2, $3, $4, $5)",
            id.get(),
            ordinal,
            c.name,
            c.tax_code,
            c.address,
        )
        .execute(&mut *conn)
        .await?;
    }

    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: AuditAction::RegistrationCreate,
            object_type: "registration".to_owned(),
            object_id: id.to_string(),
            details: serde_json::json!({
                "segnatura": segnatura,
                "direction": new.direction,
                "channel": via.channel,
                "documents": new.documents.len(),
                "document_hashes": new.documents.iter().map(|d| d.sha256.to_hex()).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;

    Ok(Registration { id, year: taken.year, number, registered_at, segnatura })
}

/// Finds a registration by register, year and number.
pub async fn find(
    conn: &mut PgConnection,
    register: &Register,
    year: i32,
    number: ProtocolNumber,
) -> Result<Registration, Error> {
    let row = sqlx::query!(
        r#"select id as "id: RegistrationId", registered_at, segnatura from registrations where register_id = $1 and year = $2 and number = $3"#,
        register.id,
        year,
        number.get(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("registration {number}/{year}") })?;
    Ok(Registration {
        id: row.id,
        year,
        number,
        segnatura: row.segnatura,
        registered_at: row.registered_at,
    })
}

/// Finds a registration of `register` by id.
pub async fn by_id(conn: &mut PgConnection, register: &Register, id: RegistrationId) -> Result<Registration, Error> {
    let row = sqlx::query!(
        r#"select id as "id: RegistrationId", year, number, registered_at, segnatura from registrations
           where id = $1 and register_id = $2"#,
        id.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("registration id {id}") })?;
    Ok(Registration {
        id: row.id,
        year: row.year,
        number: ProtocolNumber::parse(row.number)?,
        registered_at: row.registered_at,
        segnatura: row.segnatura,
    })
}

/// The annulment of art. 54: who, why, on which authority.
#[derive(Debug, Clone)]
pub struct NewAnnulment {
    pub reason: String,
    pub authorising_act: String,
}

/// Annuls a registration. The registration row is untouched and stays readable; the
/// annulment is its own row and its own audit entry. Annulling twice is refused.
pub async fn annul(
    conn: &mut PgConnection,
    registration_id: RegistrationId,
    actor: &Actor,
    annulment: &NewAnnulment,
) -> Result<DateTime<Utc>, Error> {
    if annulment.reason.trim().is_empty() {
        return Err(Error::invalid("reason", "an annulment needs a reason"));
    }
    if annulment.authorising_act.trim().is_empty() {
        return Err(Error::invalid("authorising act", "an annulment needs the authorising act"));
    }
    let exists = sqlx::query_scalar!("select id from registrations where id = $1", registration_id.get())
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(Error::NotFound { what: format!("registration id {registration_id}") });
    }
    let annulled_at = sqlx::query_scalar!(
        r#"
        insert into annulments (registration_id, annulled_by, reason, authorising_act)
        values ($1, $2, $3, $4)
        returning annulled_at
        "#,
        registration_id.get(),
        actor.as_str(),
        annulment.reason,
        annulment.authorising_act,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match crate::error::constraint(&e) {
        Some("annulments_pkey") => Error::AlreadyAnnulled(format!("id {registration_id}")),
        _ => Error::from(e),
    })?;
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: AuditAction::RegistrationAnnul,
            object_type: "registration".to_owned(),
            object_id: registration_id.to_string(),
            details: serde_json::json!({
                "reason": annulment.reason,
                "authorising_act": annulment.authorising_act,
            }),
        },
    )
    .await?;
    Ok(annulled_at)
}
