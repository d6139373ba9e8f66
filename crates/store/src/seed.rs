//! Development data: a register filled with generated, realistic registrations (Italian
//! subjects, senders and document names), for the dashboard's benchmark and for trying the
//! pages at a real office's volume. Never for a production register.
//!
//! Speed comes from `INSERT … SELECT generate_series` in batches (`queries/seed_registrations.sql`),
//! inside the schema's rules: rows are only inserted (the immutability triggers refuse changes,
//! not inserts), and each seeded year gets its `register_counters` row with the last number
//! given, so the next real registration of that year continues the sequence. Seeding is
//! refused for a year that already has a counter: the seed never shares a year with real
//! numbers. No audit entries are written for seed rows (no constraint asks for them, and a
//! million chained entries would be the slowest part); their `created_by` is `seed`.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::Error;
use crate::register::Register;

/// Rows per INSERT statement.
const BATCH: i32 = 50_000;

/// The numbers one year of the seed receives, and the time span they are spread over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearShare {
    pub year: i32,
    pub count: i32,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Splits `total` registrations, `per_day` a day and ending at `end`, over the calendar years
/// (in the register's time zone) they fall in, oldest first.
pub fn plan(register: &Register, total: u32, per_day: u32, end: DateTime<Utc>) -> Result<Vec<YearShare>, Error> {
    if total == 0 {
        return Err(Error::invalid("registrations", "must be at least 1"));
    }
    if !(1..=100_000).contains(&per_day) {
        return Err(Error::invalid("per day", "must be between 1 and 100000"));
    }
    let span_secs = (i64::from(total) * 86_400 + i64::from(per_day) - 1) / i64::from(per_day);
    let too_early = || Error::invalid("registrations", "so many at this rate would start before 1900");
    let start = chrono::Duration::try_seconds(span_secs).and_then(|d| end.checked_sub_signed(d)).ok_or_else(too_early)?;
    let tz = register.timezone;
    let year_start = |y: i32| -> Result<DateTime<Utc>, Error> {
        tz.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Error::invalid("year", format!("{y} has no start in {}", tz.name())))
    };
    let (first, last) = (start.with_timezone(&tz).year(), end.with_timezone(&tz).year());
    if first < 1900 {
        return Err(too_early());
    }
    let mut shares = Vec::new();
    let mut given: i64 = 0;
    for y in first..=last {
        let from = start.max(year_start(y)?);
        let to = end.min(year_start(y + 1)?);
        let count = if y == last {
            i64::from(total) - given
        } else {
            // proportional to the year's part of the span
            (i64::from(total) * (to - from).num_seconds()) / span_secs
        };
        given += count;
        if count > 0 {
            let count = i32::try_from(count)
                .ok()
                .filter(|c| *c < 10_000_000)
                .ok_or_else(|| Error::invalid("per day", format!("{count} registrations in {y} is more than a register year holds here")))?;
            shares.push(YearShare { year: y, count, from, to });
        }
    }
    Ok(shares)
}

/// Inserts the registrations of `shares` (see [`plan`]) with their documents, one
/// transaction per year; `progress(year, inserted so far in that year)` after each batch.
pub async fn seed(
    pool: &PgPool,
    register: &Register,
    shares: &[YearShare],
    mut progress: impl FnMut(i32, i32),
) -> Result<(), Error> {
    // Its own connection, without sqlx's slow-statement warning: every batch takes seconds on
    // purpose, and the warning would print the whole statement each time.
    let mut conn = (*pool.connect_options()).clone().disable_statement_logging().connect().await?;
    let years: Vec<i32> = shares.iter().map(|s| s.year).collect();
    let taken = sqlx::query_scalar!(
        "select year from register_counters where register_id = $1 and year = any($2) order by year",
        register.id,
        &years,
    )
    .fetch_all(&mut conn)
    .await?;
    if !taken.is_empty() {
        return Err(Error::invalid(
            "registrations",
            format!(
                "register {} already has numbers in {}: seed only a register without registrations in those years (a new database)",
                register.code.as_str(),
                taken.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for share in shares {
        let mut tx = conn.begin().await?;
        // The counter first: a registration of this year attempted meanwhile waits on this
        // row and then continues after the seeded numbers.
        sqlx::query!(
            "insert into register_counters (register_id, year, last_number) values ($1, $2, $3)",
            register.id,
            share.year,
            share.count,
        )
        .execute(&mut *tx)
        .await?;
        let mut next = 1;
        while next <= share.count {
            let last = (next + BATCH - 1).min(share.count);
            sqlx::query_file!(
                "queries/seed_registrations.sql",
                register.id,
                share.year,
                next,
                last,
                share.from,
                share.to,
                share.count,
                format!("{}|{}|{}", register.ipa_code, register.aoo_code, register.code),
                register.timezone.name(),
            )
            .execute(&mut *tx)
            .await?;
            progress(share.year, last);
            next = last + 1;
        }
        tx.commit().await?;
    }
    // The planner needs fresh statistics to choose the search indexes over a million rows.
    // (a utility statement without parameters or results: nothing for `query!` to check)
    sqlx::raw_sql("analyze registrations, documents").execute(&mut conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{AooCode, IpaCode, RegisterCode};

    fn register() -> Register {
        Register {
            id: 1,
            ipa_code: IpaCode::parse("c_h501").unwrap(),
            aoo_code: AooCode::parse("A1B2C3D").unwrap(),
            code: RegisterCode::parse("PG").unwrap(),
            timezone: chrono_tz::Europe::Rome,
        }
    }

    #[test]
    fn plan_splits_by_calendar_year_in_the_register_zone() {
        let end = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        // 1000 a day for 1000 days: from 2023-06-05 to 2026-03-01
        let shares = plan(&register(), 1_000_000, 1000, end).unwrap();
        assert_eq!(shares.iter().map(|s| s.year).collect::<Vec<_>>(), vec![2023, 2024, 2025, 2026]);
        assert_eq!(shares.iter().map(|s| i64::from(s.count)).sum::<i64>(), 1_000_000);
        // 2024 is a whole leap year: 366 days at 1000 a day
        assert_eq!(shares[1].count, 366_000);
        // Europe/Rome's new year is 23:00 UTC of 31 December
        assert_eq!(shares[1].from, Utc.with_ymd_and_hms(2023, 12, 31, 23, 0, 0).unwrap());
        assert_eq!(shares[3].to, end);
    }

    #[test]
    fn plan_refuses_nonsense() {
        let end = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert!(plan(&register(), 0, 1000, end).is_err());
        assert!(plan(&register(), 10, 0, end).is_err());
        assert!(plan(&register(), 4_000_000_000, 1, end).is_err());
    }
}
