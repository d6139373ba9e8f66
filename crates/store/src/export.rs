//! The register export (registro giornaliero, annual register): the registrations of a day
//! or a year and the events made in it (annulments, assignments), as CSV or JSON. The output
//! depends only on what the register held at the end of the period: a registration annulled
//! later shows `annulled: false` here and its annulment appears, as its own entry, in the
//! export of the day it was made. So the export of a past day gives the same bytes every time,
//! and the closed day (`crate::closing`) keeps those bytes.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::codes::ProtocolNumber;
use crate::register::{Channel, Direction, PaperDelivery, Register};

/// The period an export covers.
#[derive(Debug, Clone, Copy)]
pub enum Period {
    Day(NaiveDate),
    Year(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedRegistration {
    pub number: ProtocolNumber,
    pub year: i32,
    pub segnatura: String,
    pub registered_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub direction: Direction,
    pub correspondent_name: Option<String>,
    pub correspondent_address: Option<String>,
    pub subject: String,
    pub sender_protocol_number: Option<String>,
    pub sender_protocol_date: Option<NaiveDate>,
    pub document_hashes: Vec<String>,
    pub annulled: bool,
    /// The reason codes its inbound message kept (e.g. `UNSIGNED_ATTACHMENT` for an istanza
    /// registered under the comune's "register and flag" policy, or the reasons of a
    /// rejection the office overrode); empty for a message registered with none.
    pub flags: Vec<String>,
    /// How the document came or went: `pec` for the intake, the others for the desk and
    /// the API.
    pub channel: Channel,
    pub paper_delivery: Option<PaperDelivery>,
    pub paper_attachments: i32,
    /// Every correspondent given at the desk or through the API, in order (empty for a PEC:
    /// its one correspondent is `correspondent_name` / `correspondent_address`).
    pub correspondents: Vec<ExportedCorrespondent>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ExportedCorrespondent {
    pub name: String,
    pub tax_code: Option<String>,
    pub address: Option<String>,
}

impl ExportedCorrespondent {
    /// `name (tax code) <address>` for the CSV and the PDF.
    pub fn line(&self) -> String {
        let mut s = self.name.clone();
        if let Some(t) = &self.tax_code {
            s.push_str(&format!(" ({t})"));
        }
        if let Some(a) = &self.address {
            s.push_str(&format!(" <{a}>"));
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedAnnulment {
    pub number: ProtocolNumber,
    pub year: i32,
    pub segnatura: String,
    pub annulled_at: DateTime<Utc>,
    pub annulled_by: String,
    pub reason: String,
    pub authorising_act: String,
}

/// A step of assignment (LG AgID §3.1) made in the period, which may concern a
/// registration of an earlier day: an assignment (`step` = `assegnazione`), a passing on to
/// another assignee (`passaggio`), a taking in charge (`presa_in_carico`) or a refusal with
/// its reason (`rifiuto`, the reason in `note`). The target is an office or a person.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedAssignment {
    pub number: ProtocolNumber,
    pub year: i32,
    pub segnatura: String,
    /// When the step was made.
    pub assigned_at: DateTime<Utc>,
    /// Who made it.
    pub assigned_by: String,
    pub step: String,
    pub kind: crate::assignment::Kind,
    pub office_code: Option<String>,
    pub office_name: Option<String>,
    /// The username of the person assigned, when the assignment is to a person.
    pub person: Option<String>,
    pub note: Option<String>,
}

impl ExportedAssignment {
    /// The assignee as the CSV and the register page show it: `RAG Ragioneria`, `persona
    /// m.rossi`, with `(per conoscenza)` when it is.
    pub fn target_line(&self) -> String {
        let mut s = match (&self.office_code, &self.office_name, &self.person) {
            (Some(c), Some(n), _) => format!("{c} {n}"),
            (_, _, Some(p)) => format!("persona {p}"),
            _ => String::new(),
        };
        if self.kind == crate::assignment::Kind::Conoscenza {
            s.push_str(" (per conoscenza)");
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisterExport {
    pub ipa_code: String,
    pub aoo_code: String,
    pub register_code: String,
    pub period: String,
    pub count: usize,
    pub first_number: Option<ProtocolNumber>,
    pub last_number: Option<ProtocolNumber>,
    pub registrations: Vec<ExportedRegistration>,
    pub annulments: Vec<ExportedAnnulment>,
    pub assignments: Vec<ExportedAssignment>,
    /// Classifications made or changed in the period (LG AgID §3.1), which may concern a
    /// registration of an earlier day. Left out when there are none, so that an export of a
    /// period without any reads as before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classifications: Vec<crate::titolario::DayChange>,
}

/// The bounds `[from, to)` of a period in the register's time zone.
fn bounds(register: &Register, period: Period) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    let (first, next) = match period {
        Period::Day(d) => (d, d.checked_add_days(Days::new(1))),
        Period::Year(y) => (
            NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(|| Error::invalid("year", y.to_string()))?,
            NaiveDate::from_ymd_opt(y + 1, 1, 1),
        ),
    };
    let next = next.ok_or_else(|| Error::invalid("period", "out of range"))?;
    let midnight = |d: NaiveDate| {
        // Midnight exists in Europe/Rome (DST changes at 02:00/03:00); `earliest` also
        // covers zones where it would not.
        register
            .timezone
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Error::invalid("period", format!("no midnight on {d}")))
    };
    Ok((midnight(first)?, midnight(next)?))
}

/// The instants `[from, to)` a period covers in the register's time zone (for the dashboard's
/// day filters, so that they agree with the export to the microsecond).
pub fn period_bounds(register: &Register, period: Period) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
    bounds(register, period)
}

/// Reads what the export of `period` contains.
pub async fn collect(
    conn: &mut PgConnection,
    register: &Register,
    period: Period,
) -> Result<RegisterExport, Error> {
    let (from, to) = bounds(register, period)?;
    let rows = sqlx::query!(
        r#"
        select r.year, r.number, r.registered_at, r.received_at,
               r.direction as "direction: Direction",
               r.correspondent_name, r.correspondent_address, r.subject,
               r.sender_protocol_number, r.sender_protocol_date, r.document_hashes, r.segnatura,
               (a.registration_id is not null) as "annulled!",
               m.reasons as "reasons?",
               r.channel as "channel: Channel", r.paper_delivery as "paper_delivery: PaperDelivery",
               r.paper_attachments,
               (select coalesce(jsonb_agg(jsonb_build_object('name', c.name, 'tax_code', c.tax_code,
                                                             'address', c.address) order by c.ordinal),
                                '[]'::jsonb)
                from correspondents c where c.registration_id = r.id) as "correspondents!"
        from registrations r
        left join annulments a on a.registration_id = r.id and a.annulled_at < $3
        left join inbound_messages m on m.id = r.inbound_message_id
        where r.register_id = $1 and r.registered_at >= $2 and r.registered_at < $3
        order by r.year, r.number
        "#,
        register.id,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut registrations = Vec::with_capacity(rows.len());
    for r in rows {
        let number = ProtocolNumber::parse(r.number)?;
        registrations.push(ExportedRegistration {
            number,
            year: r.year,
            segnatura: r.segnatura,
            registered_at: r.registered_at,
            received_at: r.received_at,
            direction: r.direction,
            correspondent_name: r.correspondent_name,
            correspondent_address: r.correspondent_address,
            subject: r.subject,
            sender_protocol_number: r.sender_protocol_number,
            sender_protocol_date: r.sender_protocol_date,
            document_hashes: r.document_hashes.iter().map(hex::encode).collect(),
            annulled: r.annulled,
            flags: reason_codes(r.reasons.as_ref()),
            channel: r.channel,
            paper_delivery: r.paper_delivery,
            paper_attachments: r.paper_attachments,
            correspondents: serde_json::from_value(r.correspondents)
                .map_err(|e| Error::invalid("correspondents", e.to_string()))?,
        });
    }

    let rows = sqlx::query!(
        r#"
        select r.year, r.number, r.segnatura, a.annulled_at, a.annulled_by, a.reason,
               a.authorising_act
        from annulments a
        join registrations r on r.id = a.registration_id
        where r.register_id = $1 and a.annulled_at >= $2 and a.annulled_at < $3
        order by a.annulled_at, r.year, r.number
        "#,
        register.id,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut annulments = Vec::with_capacity(rows.len());
    for a in rows {
        let number = ProtocolNumber::parse(a.number)?;
        annulments.push(ExportedAnnulment {
            number,
            year: a.year,
            segnatura: a.segnatura,
            annulled_at: a.annulled_at,
            annulled_by: a.annulled_by,
            reason: a.reason,
            authorising_act: a.authorising_act,
        });
    }

    let assignments = crate::assignment::steps_between(conn, register, from, to)
        .await?
        .into_iter()
        .map(|s| ExportedAssignment {
            number: s.number,
            year: s.year,
            segnatura: s.segnatura,
            assigned_at: s.at,
            assigned_by: s.by,
            step: s.step,
            kind: s.kind,
            office_code: s.office_code,
            office_name: s.office_name,
            person: s.person,
            note: s.note,
        })
        .collect();

    let classifications = crate::titolario::changes_between(conn, register, from, to).await?;

    Ok(RegisterExport {
        ipa_code: register.ipa_code.to_string(),
        aoo_code: register.aoo_code.to_string(),
        register_code: register.code.to_string(),
        period: match period {
            Period::Day(d) => d.format("%Y-%m-%d").to_string(),
            Period::Year(y) => y.to_string(),
        },
        count: registrations.len(),
        first_number: registrations.first().map(|r| r.number),
        last_number: registrations.last().map(|r| r.number),
        registrations,
        annulments,
        assignments,
        classifications,
    })
}

/// The `code` of each stored reason (the classifier's `Reason`, kept as JSON by the
/// message's decision), in order.
fn reason_codes(reasons: Option<&serde_json::Value>) -> Vec<String> {
    reasons
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|r| r.get("code").and_then(|c| c.as_str()).map(str::to_owned)).collect())
        .unwrap_or_default()
}

impl RegisterExport {
    /// Renders the export. CSV has one row per registration (`record` = `registrazione`) and
    /// one per annulment made in the period (`record` = `annullamento`), which may concern a
    /// registration of an earlier day, and one per step of assignment made in the period (`record` =
    /// `assegnazione`, `passaggio`, `presa_in_carico` or `rifiuto`).
    pub fn render(&self, format: Format) -> Result<Vec<u8>, Error> {
        match format {
            Format::Json => {
                let mut out = serde_json::to_vec_pretty(self)
                    .map_err(|e| Error::invalid("export", e.to_string()))?;
                out.push(b'\n');
                Ok(out)
            }
            Format::Csv => self.render_csv(),
        }
    }

    fn render_csv(&self) -> Result<Vec<u8>, Error> {
        let csv_err = |e: csv::Error| Error::invalid("export", e.to_string());
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "record",
            "number",
            "year",
            "segnatura",
            "registered_at",
            "received_at",
            "direction",
            "correspondent_name",
            "correspondent_address",
            "subject",
            "sender_protocol_number",
            "sender_protocol_date",
            "document_sha256",
            "annulled",
            "annulled_at",
            "annulled_by",
            "annulment_reason",
            "authorising_act",
            "flags",
            "assigned_at",
            "assigned_by",
            "office",
            "assignment_note",
            "channel",
            "paper_delivery",
            "paper_attachments",
            "correspondents",
        ])
        .map_err(csv_err)?;
        let ts = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for r in &self.registrations {
            let direction = match r.direction {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
                Direction::Internal => "internal",
            };
            w.write_record([
                "registrazione",
                &r.number.to_string(),
                &r.year.to_string(),
                &r.segnatura,
                &ts(&r.registered_at),
                &r.received_at.as_ref().map(ts).unwrap_or_default(),
                direction,
                r.correspondent_name.as_deref().unwrap_or_default(),
                r.correspondent_address.as_deref().unwrap_or_default(),
                &r.subject,
                r.sender_protocol_number.as_deref().unwrap_or_default(),
                &r.sender_protocol_date.map(|d| d.to_string()).unwrap_or_default(),
                &r.document_hashes.join(" "),
                if r.annulled { "true" } else { "false" },
                "",
                "",
                "",
                "",
                &r.flags.join(" "),
                "",
                "",
                "",
                "",
                r.channel.as_str(),
                r.paper_delivery.map(PaperDelivery::as_str).unwrap_or_default(),
                &r.paper_attachments.to_string(),
                &r.correspondents.iter().map(ExportedCorrespondent::line).collect::<Vec<_>>().join("; "),
            ])
            .map_err(csv_err)?;
        }
        for a in &self.annulments {
            w.write_record([
                "annullamento",
                &a.number.to_string(),
                &a.year.to_string(),
                &a.segnatura,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "true",
                &ts(&a.annulled_at),
                &a.annulled_by,
                &a.reason,
                &a.authorising_act,
                // flags, the four columns of an assignment, the four of the channel
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ])
            .map_err(csv_err)?;
        }
        for s in &self.assignments {
            let office = s.target_line();
            let mut row = vec![s.step.clone(), s.number.to_string(), s.year.to_string(), s.segnatura.clone()];
            row.extend(std::iter::repeat_n(String::new(), 15));
            row.extend([ts(&s.assigned_at), s.assigned_by.clone(), office, s.note.clone().unwrap_or_default()]);
            row.extend(std::iter::repeat_n(String::new(), 4));
            w.write_record(&row).map_err(csv_err)?;
        }
        w.into_inner().map_err(|e| Error::invalid("export", e.to_string()))
    }
}
