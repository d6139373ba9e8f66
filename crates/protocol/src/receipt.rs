//! What a receipt of registration lists, for the intake's registrations and the office's
//! alike.

use sigillo_notify::model::Document;
use sigillo_notify::outbox::Registered;
use sigillo_store::register::{DocumentRole, NewRegistration, Registration};

/// The receipt's view of a registration just written from `new`.
pub fn registered(reg: &Registration, new: &NewRegistration) -> Registered {
    Registered {
        id: reg.id,
        number: reg.number.get(),
        year: reg.year,
        registered_at: reg.registered_at,
        segnatura: reg.segnatura.clone(),
        subject: new.subject.clone(),
        documents: new
            .documents
            .iter()
            .map(|d| Document {
                name: d.name.clone(),
                media_type: Some(d.media_type.clone()),
                size: d.size_bytes,
                sha256: d.sha256.to_hex(),
                primary: d.role == DocumentRole::Primary,
            })
            .collect(),
    }
}
