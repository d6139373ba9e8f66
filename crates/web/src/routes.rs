//! Every route of the application and who may use it. The router is built from this table
//! only (see [`crate::router`]), and the security tests walk it.

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use sigillo_store::staff::Role;

use crate::{AppState, api, auth, pages};

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anybody: the login page only.
    Public,
    /// A logged-in person with one of these roles. POST requests also need the session's
    /// CSRF token.
    Staff(&'static [Role]),
    /// Another back-office system with an API token (`Authorization: Bearer …`).
    Api,
    /// As [`Access::Api`], with a token of scope `write` (a `read` token is refused, 403).
    ApiWrite,
}

/// The method, path and access rule of a route (what the tests walk).
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

pub struct Route {
    pub spec: RouteSpec,
    pub handler: MethodRouter<AppState>,
}

use Role::{Amministratore, Operatore, Responsabile, Revisore, Ufficio};

/// Reading the register: everybody with an account but office staff.
pub const READERS: &[Role] = &[Operatore, Responsabile, Amministratore, Revisore];
/// Every account: the session, the home page, and the record of a registration and its
/// documents (office staff only those assigned to them or their offices: checked by the
/// handler, `pages::assignments::ensure_visible`).
pub const EVERYONE: &[Role] = &[Operatore, Responsabile, Amministratore, Revisore, Ufficio];
/// Who may be assigned a registration: the inbox, taking in charge, refusing, passing on
/// (each act only on an assignment to them or their offices: checked by the store).
pub const ASSIGNEES: &[Role] = &[Operatore, Responsabile, Ufficio];
/// Day-to-day work on registrations and messages.
pub const DESK: &[Role] = &[Operatore, Responsabile];
/// Opening, closing and reopening fascicoli and filing registrations in them: the protocol
/// office and the amministratore (office staff see the fascicoli: [`EVERYONE`]).
pub const FILING: &[Role] = &[Operatore, Responsabile, Amministratore];
/// Acts that need the responsabile's authority (art. 61 c.3 g DPR 445/2000).
pub const HEAD: &[Role] = &[Responsabile];
/// Accounts, offices, API tokens, the policy switches, the trusted lists.
pub const ADMIN: &[Role] = &[Amministratore];
/// The audit trail.
pub const OVERSIGHT: &[Role] = &[Responsabile, Amministratore, Revisore];

fn r(method: Method, path: &'static str, access: Access, handler: MethodRouter<AppState>) -> Route {
    Route { spec: RouteSpec { method, path, access }, handler }
}

pub fn table() -> Vec<Route> {
    use Access::{Api, ApiWrite, Public, Staff};
    vec![
        r(Method::GET, "/accedi", Public, get(auth::login_form)),
        r(Method::POST, "/accedi", Public, post(auth::login)),
        r(Method::POST, "/esci", Staff(EVERYONE), post(auth::logout)),
        r(Method::GET, "/password", Staff(EVERYONE), get(auth::password_form)),
        r(Method::POST, "/password", Staff(EVERYONE), post(auth::change_password)),
        r(Method::GET, "/", Staff(EVERYONE), get(pages::home::show)),
        r(Method::GET, "/registrazioni", Staff(READERS), get(pages::registrations::list)),
        r(Method::GET, "/protocolla", Staff(DESK), get(pages::desk::form)),
        r(
            Method::POST,
            "/protocolla",
            Staff(DESK),
            post(pages::desk::create).layer(DefaultBodyLimit::max(crate::auth::UPLOAD_LIMIT)),
        ),
        r(Method::GET, "/registrazioni/{id}", Staff(EVERYONE), get(pages::registrations::show)),
        r(Method::GET, "/registrazioni/{id}/documenti/{doc}", Staff(EVERYONE), get(pages::registrations::document)),
        r(Method::GET, "/registrazioni/{id}/messaggio.eml", Staff(EVERYONE), get(pages::registrations::raw_message)),
        r(Method::GET, "/registrazioni/{id}/stampa", Staff(READERS), get(pages::print::show)),
        r(Method::GET, "/registrazioni/{id}/annulla", Staff(HEAD), get(pages::registrations::annul_form)),
        r(Method::POST, "/registrazioni/{id}/annulla", Staff(HEAD), post(pages::registrations::annul)),
        r(Method::GET, "/registrazioni/{id}/segnatura.xml", Staff(READERS), get(pages::titolario::segnatura)),
        r(Method::POST, "/registrazioni/{id}/classifica", Staff(DESK), post(pages::titolario::classify)),
        r(Method::POST, "/registrazioni/{id}/invia-pec", Staff(DESK), post(pages::outgoing::send)),
        r(Method::GET, "/da-classificare", Staff(READERS), get(pages::titolario::to_classify)),
        r(Method::GET, "/titolario", Staff(READERS), get(pages::titolario::show)),
        r(
            Method::POST,
            "/titolario",
            Staff(pages::titolario::IMPORTERS),
            post(pages::titolario::import).layer(DefaultBodyLimit::max(sigillo_protocol::titolario::MAX_CSV_BYTES + 64 * 1024)),
        ),
        r(Method::POST, "/registrazioni/{id}/assegna", Staff(DESK), post(pages::assignments::assign)),
        r(Method::GET, "/assegnazioni", Staff(ASSIGNEES), get(pages::assignments::inbox)),
        r(Method::POST, "/assegnazioni/{id}/prendi", Staff(ASSIGNEES), post(pages::assignments::take)),
        r(Method::POST, "/assegnazioni/{id}/rifiuta", Staff(ASSIGNEES), post(pages::assignments::refuse)),
        r(Method::POST, "/assegnazioni/{id}/passa", Staff(ASSIGNEES), post(pages::assignments::pass)),
        r(Method::GET, "/fascicoli", Staff(EVERYONE), get(pages::fascicoli::list)),
        r(Method::POST, "/fascicoli", Staff(FILING), post(pages::fascicoli::create)),
        r(Method::GET, "/fascicoli/{id}", Staff(EVERYONE), get(pages::fascicoli::show)),
        r(Method::POST, "/fascicoli/{id}/chiudi", Staff(FILING), post(pages::fascicoli::close)),
        r(Method::POST, "/fascicoli/{id}/riapri", Staff(FILING), post(pages::fascicoli::reopen)),
        r(Method::POST, "/registrazioni/{id}/fascicoli", Staff(FILING), post(pages::fascicoli::add)),
        r(Method::GET, "/registro", Staff(READERS), get(pages::register_day::show)),
        r(Method::GET, "/registro.csv", Staff(READERS), get(pages::register_day::csv)),
        r(Method::GET, "/registro.pdf", Staff(READERS), get(pages::register_day::pdf)),
        r(Method::GET, "/registro.json", Staff(READERS), get(pages::register_day::json)),
        r(Method::GET, "/revisione", Staff(READERS), get(pages::queue::review)),
        r(Method::GET, "/scartati", Staff(READERS), get(pages::queue::rejected)),
        r(Method::GET, "/messaggi/{id}", Staff(READERS), get(pages::message::show)),
        r(Method::GET, "/messaggi/{id}/allegati/{n}", Staff(READERS), get(pages::message::attachment)),
        r(Method::GET, "/messaggi/{id}/messaggio.eml", Staff(READERS), get(pages::message::raw)),
        r(Method::POST, "/messaggi/{id}/conferma-scarto", Staff(DESK), post(pages::queue::confirm_rejection)),
        r(Method::POST, "/messaggi/{id}/reinvia-avviso", Staff(DESK), post(pages::queue::resend_notice)),
        r(Method::POST, "/invii/{id}/reinvia", Staff(DESK), post(pages::outbox::resend)),
        r(Method::GET, "/messaggi/{id}/registra", Staff(HEAD), get(pages::queue::register_form)),
        r(Method::POST, "/messaggi/{id}/registra", Staff(HEAD), post(pages::queue::register_anyway)),
        r(Method::GET, "/audit", Staff(OVERSIGHT), get(pages::audit::show)),
        r(Method::GET, "/uffici", Staff(READERS), get(pages::admin::offices)),
        r(Method::POST, "/uffici", Staff(ADMIN), post(pages::admin::create_office)),
        r(Method::POST, "/uffici/{id}/stato", Staff(ADMIN), post(pages::admin::toggle_office)),
        r(Method::GET, "/uffici/{id}", Staff(READERS), get(pages::assignments::office)),
        r(Method::POST, "/uffici/{id}/componenti", Staff(ADMIN), post(pages::assignments::add_member)),
        r(Method::POST, "/uffici/{id}/componenti/{username}/rimuovi", Staff(ADMIN), post(pages::assignments::remove_member)),
        r(Method::GET, "/utenti", Staff(ADMIN), get(pages::admin::users)),
        r(Method::POST, "/utenti", Staff(ADMIN), post(pages::admin::create_user)),
        r(Method::POST, "/utenti/{username}/disattiva", Staff(ADMIN), post(pages::admin::disable_user)),
        r(Method::POST, "/utenti/{username}/riattiva", Staff(ADMIN), post(pages::admin::enable_user)),
        r(Method::POST, "/utenti/{username}/sblocca", Staff(ADMIN), post(pages::admin::unlock_user)),
        r(Method::POST, "/utenti/{username}/password-temporanea", Staff(ADMIN), post(pages::admin::reset_password)),
        r(Method::POST, "/utenti/{username}/ruolo", Staff(ADMIN), post(pages::admin::set_role)),
        r(Method::GET, "/token-api", Staff(ADMIN), get(pages::admin::tokens)),
        r(Method::POST, "/token-api", Staff(ADMIN), post(pages::admin::create_token)),
        r(Method::POST, "/token-api/{id}/revoca", Staff(ADMIN), post(pages::admin::revoke_token)),
        r(Method::GET, "/politiche", Staff(ADMIN), get(pages::admin::policy_form)),
        r(Method::POST, "/politiche", Staff(ADMIN), post(pages::admin::set_policy)),
        r(Method::GET, "/liste-di-fiducia", Staff(ADMIN), get(pages::trusted_lists::show)),
        r(Method::GET, "/api/v1/openapi.json", Api, get(api::openapi)),
        r(Method::GET, "/api/v1/registrations", Api, get(api::list)),
        r(
            Method::POST,
            "/api/v1/registrations",
            ApiWrite,
            post(api::create).layer(DefaultBodyLimit::max(api::CREATE_LIMIT)),
        ),
        r(Method::GET, "/api/v1/registrations/{id}", Api, get(api::show)),
        r(Method::GET, "/api/v1/registrations/{id}/documents", Api, get(api::documents)),
    ]
}

/// The table without handlers, for tests and documentation.
pub fn specs() -> Vec<RouteSpec> {
    table().into_iter().map(|r| r.spec).collect()
}
