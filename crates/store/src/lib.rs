//! The protocol register of Sigillo: domain types, every SQL statement, the migrator and the
//! content-addressed blob store.
//!
//! The invariants of ARCHITECTURE.md §2 that concern the register are kept here and, where
//! the database can keep them itself, in the migrations: a number is taken only inside the
//! transaction that writes the registration; registered fields never change; every human
//! or automatic action is appended to a hash-chained audit trail.

pub mod assignment;
pub mod audit;
pub mod blob;
pub mod blob_checks;
pub mod browse;
pub mod closing;
pub mod codes;
pub mod decisions;
pub mod desk;
mod error;
pub mod export;
pub mod fascicolo;
pub mod idempotency;
pub mod ids;
pub mod inbound;
pub mod mailbox_health;
pub mod outbox;
pub mod policy;
pub mod register;
pub mod revocation;
pub mod seed;
pub mod staff;
pub mod titolario;
pub mod trusted_lists;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;
pub use sqlx::PgPool;

/// The migrations in `migrations/` at the workspace root, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Opens a connection pool.
///
/// A connection idle for more than a few seconds is pinged before it is handed out (a
/// restarted server or a dropped link shows there, not as a failed query); one that was just
/// returned is not: the dashboard takes a connection twice per page (session, then the
/// page), and a ping each time was two more round trips per page for both processes.
///
/// JIT compilation is off for these connections. Every statement here reads a handful of
/// rows through indexes, but a plan whose estimate passes `jit_above_cost` (an inbox read
/// newest first through a large office: the planner cannot know it stops after a page) was
/// compiled on each execution: 90 ms of JIT for 10 ms of execution, the whole of the
/// office inbox's time in the dashboard benchmark (docs/benchmarks.md).
pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, Error> {
    let options = database_url.parse::<sqlx::postgres::PgConnectOptions>()?.options([("jit", "off")]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= std::time::Duration::from_secs(5) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies the pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Checks that the database answers (for health checks).
pub async fn ping(pool: &PgPool) -> Result<(), Error> {
    sqlx::query_scalar!("select 1 as \"one!\"").fetch_one(pool).await?;
    Ok(())
}

/// The health check of `/healthz`: whether the database answers, decided within `within`,
/// with the reason when it does not.
///
/// A plain [`ping`] through the pool would wait out the pool's acquire timeout (10 s) while
/// the server is down, since the pool keeps retrying to connect: a monitor with a 3 s
/// timeout then sees a timeout, not an answer. Here the pool gets half the time (a pooled
/// connection answers in a millisecond); if it has none to give, one connection of our
/// own, with the pool's options, tells why (refused, authentication, no route), bounded by
/// the other half. A pool merely busy while the server answers counts as healthy.
pub async fn health(pool: &PgPool, within: std::time::Duration) -> Result<(), String> {
    use sqlx::Connection as _;
    let half = within / 2;
    match tokio::time::timeout(half, ping(pool)).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {}
    }
    let options = pool.connect_options();
    let attempt = async {
        let mut conn = sqlx::PgConnection::connect_with(&options).await?;
        let r = sqlx::query_scalar!("select 1 as \"one!\"").fetch_one(&mut conn).await;
        let _ = conn.close().await;
        r.map(|_| ())
    };
    match tokio::time::timeout(half, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("database unavailable: {e}")),
        Err(_) => Err(format!("database unavailable: no answer within {} ms", within.as_millis())),
    }
}
