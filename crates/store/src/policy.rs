//! The comune's policy switches (ARCHITECTURE.md "Decisions"): the one row of `policy`, and
//! its changes, audited. What each switch does to a decision is the `protocol` crate's
//! (`sigillo_protocol::policy`); here are the values and where they are kept.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::register::Actor;

/// Unsigned attachments from the sender's own PEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnsignedPolicy {
    /// The classifier's table: rejected, with a notice.
    #[default]
    Reject,
    /// Registered, `UNSIGNED_ATTACHMENT` kept on the registration as a flag (CAD art. 65
    /// c.1 c-bis: an istanza sent from the applicant's own PEC is valid unsigned).
    RegisterFlag,
}

/// Anomaly envelopes: ordinary e-mail that reached the PEC box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyPolicy {
    #[default]
    Reject,
    /// Left to the protocol office.
    Review,
}

/// Document signatures judged INDETERMINATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndeterminatePolicy {
    #[default]
    Review,
    Reject,
}

/// The three switches; `Default` is the classifier's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Policy {
    pub unsigned: UnsignedPolicy,
    pub anomaly: AnomalyPolicy,
    pub indeterminate: IndeterminatePolicy,
}

impl UnsignedPolicy {
    pub const ALL: [UnsignedPolicy; 2] = [UnsignedPolicy::Reject, UnsignedPolicy::RegisterFlag];

    /// The text of the configuration, the form and the table.
    pub fn as_str(self) -> &'static str {
        match self {
            UnsignedPolicy::Reject => "reject",
            UnsignedPolicy::RegisterFlag => "register-flag",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

impl AnomalyPolicy {
    pub const ALL: [AnomalyPolicy; 2] = [AnomalyPolicy::Reject, AnomalyPolicy::Review];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyPolicy::Reject => "reject",
            AnomalyPolicy::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

impl IndeterminatePolicy {
    pub const ALL: [IndeterminatePolicy; 2] = [IndeterminatePolicy::Review, IndeterminatePolicy::Reject];

    pub fn as_str(self) -> &'static str {
        match self {
            IndeterminatePolicy::Review => "review",
            IndeterminatePolicy::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

/// The stored row: the policy, who set it and when.
#[derive(Debug, Clone)]
pub struct StoredPolicy {
    pub policy: Policy,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// The policy set from the dashboard; `None` while nobody has set one (the configuration's
/// applies). One primary-key read: cheap enough for every decision.
pub async fn stored(conn: &mut PgConnection) -> Result<Option<StoredPolicy>, Error> {
    let row = sqlx::query!(
        "select unsigned_attachment, anomaly, indeterminate, updated_at, updated_by from policy where singleton"
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    // The table's checks admit only these texts.
    let bad = |column: &str, v: &str| Error::invalid("policy", format!("{column} = {v:?} is not a known value"));
    let policy = Policy {
        unsigned: UnsignedPolicy::parse(&row.unsigned_attachment).ok_or_else(|| bad("unsigned_attachment", &row.unsigned_attachment))?,
        anomaly: AnomalyPolicy::parse(&row.anomaly).ok_or_else(|| bad("anomaly", &row.anomaly))?,
        indeterminate: IndeterminatePolicy::parse(&row.indeterminate).ok_or_else(|| bad("indeterminate", &row.indeterminate))?,
    };
    Ok(Some(StoredPolicy { policy, updated_at: row.updated_at, updated_by: row.updated_by }))
}

/// The policy in force: the stored one, else `configured` (the environment's).
pub async fn current(conn: &mut PgConnection, configured: Policy) -> Result<Policy, Error> {
    Ok(stored(conn).await?.map_or(configured, |s| s.policy))
}

/// Sets the policy, with an audit entry naming the values before and after. `before` is what
/// the person saw in force (the stored row or the configuration's). Call inside a
/// transaction.
pub async fn set(conn: &mut PgConnection, actor: &Actor, before: Policy, policy: Policy) -> Result<(), Error> {
    sqlx::query!(
        r#"
        insert into policy (singleton, unsigned_attachment, anomaly, indeterminate, updated_by)
        values (true, $1, $2, $3, $4)
        on conflict (singleton) do update
        set unsigned_attachment = excluded.unsigned_attachment, anomaly = excluded.anomaly,
            indeterminate = excluded.indeterminate, updated_at = now(), updated_by = excluded.updated_by
        "#,
        policy.unsigned.as_str(),
        policy.anomaly.as_str(),
        policy.indeterminate.as_str(),
        actor.as_str(),
    )
    .execute(&mut *conn)
    .await?;
    let values = |p: Policy| {
        serde_json::json!({
            "unsigned_attachment": p.unsigned.as_str(),
            "anomaly": p.anomaly.as_str(),
            "indeterminate": p.indeterminate.as_str(),
        })
    };
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: AuditAction::PolicyChange,
            object_type: "policy".to_owned(),
            object_id: "policy".to_owned(),
            details: serde_json::json!({ "before": values(before), "after": values(policy) }),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_from_its_text() {
        for v in UnsignedPolicy::ALL {
            assert_eq!(UnsignedPolicy::parse(v.as_str()), Some(v));
        }
        for v in AnomalyPolicy::ALL {
            assert_eq!(AnomalyPolicy::parse(v.as_str()), Some(v));
        }
        for v in IndeterminatePolicy::ALL {
            assert_eq!(IndeterminatePolicy::parse(v.as_str()), Some(v));
        }
        assert_eq!(UnsignedPolicy::parse("register"), None);
    }

    #[test]
    fn the_default_is_the_classifiers_table() {
        let p = Policy::default();
        assert_eq!(p.unsigned, UnsignedPolicy::Reject);
        assert_eq!(p.anomaly, AnomalyPolicy::Reject);
        assert_eq!(p.indeterminate, IndeterminatePolicy::Review);
    }
}
