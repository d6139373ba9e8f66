//! The audit trail: append-only, hash-chained, verifiable.
//!
//! Entry n stores `content_hash = SHA-256(canonical content)` and
//! `hash = SHA-256(prev_hash ‖ content_hash)` where `prev_hash` is entry n-1's `hash` (32 zero
//! bytes for the first entry). The canonical content is the compact JSON of
//! `{"action","actor","at","details","id","object_id","object_type"}` with object keys sorted
//! and `at` in RFC 3339 UTC with microseconds: exactly what Postgres gives back, so the chain
//! can be recomputed from the table alone. Details hold no floating-point numbers, whose text
//! form does not survive a jsonb round trip.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::Error;

/// The acts the trail records (`audit_action` in the schema). The text is what the chain
/// hashes: a variant's name never changes once entries carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "audit_action")]
pub enum AuditAction {
    #[sqlx(rename = "registration.create")]
    RegistrationCreate,
    #[sqlx(rename = "registration.annul")]
    RegistrationAnnul,
    #[sqlx(rename = "registration.assign")]
    RegistrationAssign,
    #[sqlx(rename = "message.confirm_rejection")]
    MessageConfirmRejection,
    #[sqlx(rename = "message.register_anyway")]
    MessageRegisterAnyway,
    #[sqlx(rename = "message.resend_notice")]
    MessageResendNotice,
    #[sqlx(rename = "outbox.resend")]
    OutboxResend,
    #[sqlx(rename = "staff.create")]
    StaffCreate,
    #[sqlx(rename = "staff.login")]
    StaffLogin,
    #[sqlx(rename = "staff.lockout")]
    StaffLockout,
    #[sqlx(rename = "staff.password")]
    StaffPassword,
    #[sqlx(rename = "staff.disable")]
    StaffDisable,
    #[sqlx(rename = "office.create")]
    OfficeCreate,
    #[sqlx(rename = "office.active")]
    OfficeActive,
    #[sqlx(rename = "api_token.create")]
    ApiTokenCreate,
    #[sqlx(rename = "api_token.revoke")]
    ApiTokenRevoke,
    #[sqlx(rename = "policy.change")]
    PolicyChange,
    #[sqlx(rename = "staff.unlock")]
    StaffUnlock,
    #[sqlx(rename = "staff.password_reset")]
    StaffPasswordReset,
    #[sqlx(rename = "staff.enable")]
    StaffEnable,
    #[sqlx(rename = "register.close_day")]
    RegisterCloseDay,
    #[sqlx(rename = "staff.role")]
    StaffRole,
    #[sqlx(rename = "titolario.import")]
    TitolarioImport,
    #[sqlx(rename = "registration.classify")]
    RegistrationClassify,
    #[sqlx(rename = "assignment.take")]
    AssignmentTake,
    #[sqlx(rename = "assignment.refuse")]
    AssignmentRefuse,
    #[sqlx(rename = "assignment.pass")]
    AssignmentPass,
    #[sqlx(rename = "office.member_add")]
    OfficeMemberAdd,
    #[sqlx(rename = "office.member_remove")]
    OfficeMemberRemove,
    #[sqlx(rename = "fascicolo.create")]
    FascicoloCreate,
    #[sqlx(rename = "fascicolo.close")]
    FascicoloClose,
    #[sqlx(rename = "fascicolo.reopen")]
    FascicoloReopen,
    #[sqlx(rename = "fascicolo.add")]
    FascicoloAdd,
    #[sqlx(rename = "registration.send_pec")]
    RegistrationSendPec,
}

impl AuditAction {
    /// The text stored and hashed (as the schema's enum label).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RegistrationCreate => "registration.create",
            AuditAction::RegistrationAnnul => "registration.annul",
            AuditAction::RegistrationAssign => "registration.assign",
            AuditAction::MessageConfirmRejection => "message.confirm_rejection",
            AuditAction::MessageRegisterAnyway => "message.register_anyway",
            AuditAction::MessageResendNotice => "message.resend_notice",
            AuditAction::OutboxResend => "outbox.resend",
            AuditAction::StaffCreate => "staff.create",
            AuditAction::StaffLogin => "staff.login",
            AuditAction::StaffLockout => "staff.lockout",
            AuditAction::StaffPassword => "staff.password",
            AuditAction::StaffDisable => "staff.disable",
            AuditAction::OfficeCreate => "office.create",
            AuditAction::OfficeActive => "office.active",
            AuditAction::ApiTokenCreate => "api_token.create",
            AuditAction::ApiTokenRevoke => "api_token.revoke",
            AuditAction::PolicyChange => "policy.change",
            AuditAction::StaffUnlock => "staff.unlock",
            AuditAction::StaffPasswordReset => "staff.password_reset",
            AuditAction::StaffEnable => "staff.enable",
            AuditAction::StaffRole => "staff.role",
            AuditAction::RegisterCloseDay => "register.close_day",
            AuditAction::TitolarioImport => "titolario.import",
            AuditAction::RegistrationClassify => "registration.classify",
            AuditAction::AssignmentTake => "assignment.take",
            AuditAction::AssignmentRefuse => "assignment.refuse",
            AuditAction::AssignmentPass => "assignment.pass",
            AuditAction::OfficeMemberAdd => "office.member_add",
            AuditAction::OfficeMemberRemove => "office.member_remove",
            AuditAction::FascicoloCreate => "fascicolo.create",
            AuditAction::FascicoloClose => "fascicolo.close",
            AuditAction::FascicoloReopen => "fascicolo.reopen",
            AuditAction::FascicoloAdd => "fascicolo.add",
            AuditAction::RegistrationSendPec => "registration.send_pec",
        }
    }

    /// Every act, in the order the audit page's filter lists them.
    pub const ALL: [AuditAction; 34] = [
        AuditAction::RegistrationCreate,
        AuditAction::RegistrationAnnul,
        AuditAction::RegistrationAssign,
        AuditAction::RegistrationClassify,
        AuditAction::RegistrationSendPec,
        AuditAction::RegisterCloseDay,
        AuditAction::AssignmentTake,
        AuditAction::AssignmentRefuse,
        AuditAction::AssignmentPass,
        AuditAction::FascicoloCreate,
        AuditAction::FascicoloAdd,
        AuditAction::FascicoloClose,
        AuditAction::FascicoloReopen,
        AuditAction::MessageConfirmRejection,
        AuditAction::MessageRegisterAnyway,
        AuditAction::MessageResendNotice,
        AuditAction::OutboxResend,
        AuditAction::StaffLogin,
        AuditAction::StaffLockout,
        AuditAction::StaffUnlock,
        AuditAction::StaffCreate,
        AuditAction::StaffPassword,
        AuditAction::StaffPasswordReset,
        AuditAction::StaffRole,
        AuditAction::StaffDisable,
        AuditAction::StaffEnable,
        AuditAction::OfficeCreate,
        AuditAction::OfficeActive,
        AuditAction::OfficeMemberAdd,
        AuditAction::OfficeMemberRemove,
        AuditAction::ApiTokenCreate,
        AuditAction::ApiTokenRevoke,
        AuditAction::PolicyChange,
        AuditAction::TitolarioImport,
    ];

    /// The act stored as `s` (its schema label), if any.
    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: AuditAction,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
}

/// Field order is alphabetical so that the struct serialises in canonical key order.
#[derive(Serialize)]
struct CanonicalContent<'a> {
    action: AuditAction,
    actor: &'a str,
    at: String,
    details: &'a serde_json::Value,
    id: i64,
    object_id: &'a str,
    object_type: &'a str,
}

fn content_hash(id: i64, at: DateTime<Utc>, e: &NewAuditEntry) -> Result<[u8; 32], Error> {
    let canonical = CanonicalContent {
        action: e.action,
        actor: &e.actor,
        at: at.to_rfc3339_opts(SecondsFormat::Micros, true),
        // serde_json's Map is a BTreeMap (no preserve_order): keys come out sorted
        details: &e.details,
        id,
        object_id: &e.object_id,
        object_type: &e.object_type,
    };
    let bytes = serde_json::to_vec(&canonical)
        .map_err(|err| Error::invalid("audit details", err.to_string()))?;
    Ok(Sha256::digest(&bytes).into())
}

fn chain_hash(prev: &[u8], content: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(content);
    h.finalize().into()
}

fn has_float(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(a) => a.iter().any(has_float),
        serde_json::Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// Appends an entry inside the caller's transaction. The head row lock orders entries by
/// commit, and the id is taken from it, so ids have no gaps either.
pub async fn append(conn: &mut PgConnection, entry: &NewAuditEntry) -> Result<i64, Error> {
    if has_float(&entry.details) {
        return Err(Error::invalid("audit details", "floating-point numbers are not allowed"));
    }
    let head = sqlx::query!("select last_id, last_hash from audit_head for update")
        .fetch_one(&mut *conn)
        .await?;
    let id = head.last_id + 1;
    // Postgres keeps microseconds: truncate now so the hash covers what is stored.
    let now = Utc::now();
    let at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let content = content_hash(id, at, entry)?;
    let hash = chain_hash(&head.last_hash, &content);
    sqlx::query!(
        r#"
        insert into audit_log (id, at, actor, action, object_type, object_id, details,
                               prev_hash, content_hash, hash)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        "#,
        id,
        at,
        entry.actor,
        entry.action as AuditAction,
        entry.object_type,
        entry.object_id,
        entry.details,
        head.last_hash,
        &content[..],
        &hash[..],
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("update audit_head set last_id = $1, last_hash = $2", id, &hash[..])
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verification {
    Intact { entries: i64, head_hash: String },
    Broken { entry_id: i64, reason: String },
}

/// Recomputes the whole chain and returns the first entry that does not fit.
pub async fn verify(conn: &mut PgConnection) -> Result<Verification, Error> {
    use futures_util::TryStreamExt;

    let mut prev_id = 0_i64;
    let mut prev_hash = [0_u8; 32].to_vec();
    let mut rows = sqlx::query!(
        r#"
        select id, at, actor, action as "action: AuditAction", object_type, object_id, details,
               prev_hash, content_hash, hash
        from audit_log order by id
        "#
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let broken = |reason: String| Ok(Verification::Broken { entry_id: row.id, reason });
        if row.id != prev_id + 1 {
            return broken(format!("expected entry {} next: entries are missing", prev_id + 1));
        }
        if row.prev_hash != prev_hash {
            return broken("its previous-entry hash does not match the entry before it".into());
        }
        let entry = NewAuditEntry {
            actor: row.actor,
            action: row.action,
            object_type: row.object_type,
            object_id: row.object_id,
            details: row.details,
        };
        let content = content_hash(row.id, row.at, &entry)?;
        if row.content_hash != content {
            return broken("its content was changed after it was written".into());
        }
        let hash = chain_hash(&prev_hash, &content);
        if row.hash != hash {
            return broken("its chain hash was changed after it was written".into());
        }
        prev_id = row.id;
        prev_hash = hash.to_vec();
    }
    drop(rows);
    let head = sqlx::query!("select last_id, last_hash from audit_head")
        .fetch_one(&mut *conn)
        .await?;
    if head.last_id != prev_id || head.last_hash != prev_hash {
        return Ok(Verification::Broken {
            entry_id: head.last_id.max(prev_id),
            reason: format!(
                "the chain head names entry {} but the trail ends at entry {prev_id}",
                head.last_id
            ),
        });
    }
    Ok(Verification::Intact { entries: prev_id, head_hash: hex::encode(prev_hash) })
}
