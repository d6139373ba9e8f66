//! The commands that need the configuration and the database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sigillo_store::audit::Verification;
use sigillo_store::export::{Format, Period};
use sigillo_store::register::Register;
use sigillo_store::{PgPool, blob::BlobStore};
use sha2::Digest;

use crate::config::{self, Config};

/// Reads the configuration; an unknown `SIGILLO_*` variable is a warning, not an error.
fn load_config() -> anyhow::Result<Config> {
    let (config, unknown) = config::from_vars(std::env::vars())?;
    for var in unknown {
        tracing::warn!("unknown variable {var} ignored (a typo?): see .env.sample for the known ones");
    }
    Ok(config)
}

async fn open(config: &Config) -> anyhow::Result<(PgPool, Register)> {
    let pool = sigillo_store::connect(&config.database_url, config.db_max_connections)
        .await
        .context("cannot connect to the database (SIGILLO_DATABASE_URL)")?;
    let mut conn = pool.acquire().await?;
    let register = Register::ensure(
        &mut conn,
        &config.ipa_code,
        &config.aoo_code,
        &config.register_code,
        config.timezone,
    )
    .await
    .context("cannot open the register (has `sigillo migrate` been run?)")?;
    drop(conn);
    Ok((pool, register))
}

pub async fn migrate() -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let pool = sigillo_store::connect(&config.database_url, 2)
        .await
        .context("cannot connect to the database (SIGILLO_DATABASE_URL)")?;
    sigillo_store::migrate(&pool).await?;
    let (_, register) = open(&config).await?;
    BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
    println!(
        "migrations applied; register {}|{}|{} ready",
        register.ipa_code, register.aoo_code, register.code
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn export(period: Period, format: Format, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, register) = open(&config).await?;
    let mut conn = pool.acquire().await?;
    let export = sigillo_store::export::collect(&mut conn, &register, period).await?;
    let bytes = export.render(format)?;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    match &output {
        Some(path) => write_atomically(path, &bytes)?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).and_then(|()| out.flush()).context("cannot write to standard output")?;
        }
    }
    let range = match (export.first_number, export.last_number) {
        (Some(a), Some(b)) => format!(" ({a}-{b})"),
        _ => String::new(),
    };
    eprintln!(
        "export {}: {} registrations{range}, {} annulments, sha256 {sha}",
        export.period,
        export.count,
        export.annulments.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("export")));
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub async fn audit_verify() -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, _) = open(&config).await?;
    let mut conn = pool.acquire().await?;
    match sigillo_store::audit::verify(&mut conn).await? {
        Verification::Intact { entries, head_hash } => {
            println!("audit trail intact: {entries} entries, head {head_hash}");
            Ok(ExitCode::SUCCESS)
        }
        Verification::Broken { entry_id, reason } => {
            println!("audit trail broken at entry {entry_id}: {reason}");
            Ok(ExitCode::from(1))
        }
    }
}

pub async fn serve() -> anyhow::Result<ExitCode> {
    use axum::{Router, extract::State, http::StatusCode, routing::get};

    let config = load_config()?;
    let (pool, _register) = open(&config).await?;
    BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;

    async fn health(State(pool): State<PgPool>) -> (StatusCode, &'static str) {
        match sqlx_ping(&pool).await {
            Ok(()) => (StatusCode::OK, "ok\n"),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
        }
    }
    let app = Router::new().route("/healthz", get(health)).with_state(pool);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (SIGILLO_LISTEN)", config.listen))?;
    tracing::info!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn sqlx_ping(pool: &PgPool) -> Result<(), sigillo_store::Error> {
    sigillo_store::ping(pool).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
