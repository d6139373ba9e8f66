//! A fresh, migrated database per test (the zero-to-production `spawn_app` idea).
//!
//! The server comes from `SIGILLO_TEST_DATABASE_URL` (an administrative connection URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`), which the README's test command sets to
//! the local server or to a throwaway cluster. Each test gets a database named
//! `sigillo_test_<uuid>`; the test command drops them all at the end.

use crate::{Error, PgPool};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated database that exists only for one test.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    pub name: String,
}

/// The administrative URL of the test server.
pub fn admin_url() -> String {
    std::env::var("SIGILLO_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Replaces the database name (the last path segment) of a Postgres URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].rfind('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// Creates and migrates a new database; `max_connections` sizes its pool.
    pub async fn new(max_connections: u32) -> Result<TestDb, Error> {
        let admin = admin_url();
        let name = format!("sigillo_test_{}", uuid::Uuid::new_v4().simple());
        let admin_pool = crate::connect(&admin, 1).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&admin_pool)
            .await?;
        admin_pool.close().await;
        let url = with_database(&admin, &name);
        let pool = crate::connect(&url, max_connections).await?;
        crate::migrate(&pool).await?;
        Ok(TestDb { pool, url, name })
    }

    /// The register every test uses unless it needs another: IPA `c_h501`, AOO `A1B2C3D`,
    /// register `PG`, Europe/Rome (the codes of `.env.sample`).
    pub async fn test_register(&self) -> Result<crate::register::Register, Error> {
        use crate::codes::{AooCode, IpaCode, RegisterCode};
        let mut conn = self.pool.acquire().await?;
        crate::register::Register::ensure(
            &mut conn,
            &IpaCode::parse("c_h501")?,
            &AooCode::parse("A1B2C3D")?,
            &RegisterCode::parse("PG")?,
            chrono_tz::Europe::Rome,
        )
        .await
    }
}

/// The registration the benchmarks write (`--bench register`, the register's rate in
/// `bench_intake`): one signed 200 KB document, its digest made unique by `i`.
pub fn bench_registration(i: usize) -> crate::register::NewRegistration {
    use crate::register::{Direction, DocumentRole, NewDocument, NewRegistration, Sha256};
    NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: Some("Mario Rossi".into()),
        correspondent_address: Some("mario.rossi@pec.example.it".into()),
        subject: "Richiesta di accesso agli atti".into(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: None,
        inbound_message_id: None,
        documents: vec![NewDocument {
            name: "istanza.pdf.p7m".into(),
            media_type: "application/pkcs7-mime".into(),
            size_bytes: 200_000,
            sha256: Sha256::of(&i.to_le_bytes()),
            role: DocumentRole::Primary,
            signature_report: Some(serde_json::json!({"verdict": "TOTAL_PASSED", "signers": 1})),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name_only() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
