//! An example answering configuration for tests and benchmarks (feature `testing`).

use crate::model::{Context, Ente, Office};
use crate::outbox::{OutboxConfig, RateLimit};

/// The Comune di Esempio (c_h501, AOO A1B2C3D, register PG, Europe/Rome) answering from
/// `from`, at most `per_hour` automatic messages per address, without a seal.
pub fn config(from: &str, per_hour: u32) -> OutboxConfig {
    OutboxConfig {
        ctx: Context {
            ente: Ente {
                name: "Comune di Esempio".into(),
                ipa_code: "c_h501".into(),
                aoo_code: "A1B2C3D".into(),
                aoo_name: "Protocollo generale".into(),
                register_code: "PG".into(),
                timezone: chrono_tz::Europe::Rome,
            },
            office: Office { name: "Ufficio Protocollo".into(), email: None, phone: None, hours: None },
            from: from.into(),
        },
        rate_limit: RateLimit { per_hour },
        seal: None,
    }
}
