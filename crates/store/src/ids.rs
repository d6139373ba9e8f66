//! Typed ids of the register's rows, so that a message id cannot be passed where a
//! registration id is wanted (`decisions::record` takes both). Transparent in the schema
//! (`bigint`) and in JSON (a number).

use serde::Serialize;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, sqlx::Type)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// An id read from outside the database (a path segment, a test): whether a row
            /// has it is for the query to say.
            pub const fn new(id: i64) -> Self {
                $name(id)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A row of `inbound_messages`: a message read from a PEC box or pushed with `ingest`.
    InboundId
);
id!(
    /// A row of `registrations`.
    RegistrationId
);
id!(
    /// A row of `outbox`: a receipt or notice we send.
    OutboxId
);
id!(
    /// A row of `fascicoli`.
    FascicoloId
);
