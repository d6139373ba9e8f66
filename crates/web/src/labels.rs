//! Italian words for what the register and the audit trail store as codes: the acts
//! (`registration.annul`), the system actors (`intake`), the kinds of objects. The codes stay
//! as they are in the database (the audit chain hashes them); only what a clerk reads changes.

use sigillo_store::audit::AuditAction;
use sigillo_store::mailbox_health::Fault;

/// The act, as a clerk would name it.
pub fn action_it(action: AuditAction) -> &'static str {
    match action {
        AuditAction::RegistrationCreate => "Registrazione di protocollo",
        AuditAction::RegistrationAnnul => "Annullamento di una registrazione",
        AuditAction::RegistrationAssign => "Assegnazione",
        AuditAction::AssignmentTake => "Presa in carico",
        AuditAction::AssignmentRefuse => "Rifiuto di un'assegnazione",
        AuditAction::AssignmentPass => "Passaggio ad altro assegnatario",
        AuditAction::MessageConfirmRejection => "Conferma dello scarto di un messaggio",
        AuditAction::MessageRegisterAnyway => "Protocollazione d'ufficio di un messaggio scartato",
        AuditAction::MessageResendNotice => "Nuovo invio dell'avviso al mittente",
        AuditAction::OutboxResend => "Nuovo invio di una ricevuta o di un avviso",
        AuditAction::StaffCreate => "Creazione di un utente",
        AuditAction::StaffLogin => "Accesso",
        AuditAction::StaffLockout => "Blocco per tentativi di accesso non riusciti",
        AuditAction::StaffUnlock => "Sblocco di un utente",
        AuditAction::StaffPassword => "Cambio della password",
        AuditAction::StaffPasswordReset => "Password temporanea impostata dall'amministratore",
        AuditAction::StaffRole => "Cambio di ruolo",
        AuditAction::StaffDisable => "Disattivazione di un utente",
        AuditAction::StaffEnable => "Riattivazione di un utente",
        AuditAction::OfficeCreate => "Creazione di un ufficio",
        AuditAction::OfficeActive => "Attivazione o disattivazione di un ufficio",
        AuditAction::OfficeMemberAdd => "Aggiunta di un componente a un ufficio",
        AuditAction::OfficeMemberRemove => "Rimozione di un componente da un ufficio",
        AuditAction::ApiTokenCreate => "Creazione di un token API",
        AuditAction::ApiTokenRevoke => "Revoca di un token API",
        AuditAction::PolicyChange => "Modifica delle politiche di protocollazione",
        AuditAction::RegisterCloseDay => "Chiusura del registro giornaliero",
        AuditAction::TitolarioImport => "Importazione di una versione del titolario",
        AuditAction::RegistrationClassify => "Classificazione di una registrazione",
        AuditAction::FascicoloCreate => "Apertura di un fascicolo",
        AuditAction::FascicoloClose => "Chiusura di un fascicolo",
        AuditAction::FascicoloReopen => "Riapertura di un fascicolo",
        AuditAction::FascicoloAdd => "Inserimento di una registrazione in un fascicolo",
        AuditAction::RegistrationSendPec => "Invio via PEC di una registrazione in partenza",
    }
}

/// Why the intake cannot read a PEC mailbox, and what usually fixes it.
pub fn mailbox_fault_it(fault: Fault) -> &'static str {
    match fault {
        Fault::Connection => "il server della casella non è raggiungibile (rete, indirizzo o certificato TLS)",
        Fault::Login => "il gestore ha rifiutato le credenziali (password cambiata o scaduta, account bloccato)",
        Fault::Timeout => "il server della casella ha smesso di rispondere",
        Fault::Server => "il server della casella ha rifiutato un comando",
        Fault::Local => "l'archivio o il database di Sigillo non sono utilizzabili",
    }
}

/// A step of assignment as the daily register stores it (`sigillo_store::export`).
pub fn assignment_step_it(step: &str) -> &'static str {
    match step {
        "assegnazione" => "Assegnazione",
        "passaggio" => "Passaggio ad altro assegnatario",
        "presa_in_carico" => "Presa in carico",
        "rifiuto" => "Rifiuto",
        _ => "Altro",
    }
}

/// Who acted: a person's username as it is, the system's own actors in words.
pub fn actor_it(actor: &str) -> String {
    match actor {
        "intake" => "Ricezione automatica PEC".to_owned(),
        "web" => "Sistema (servizio)".to_owned(),
        "cli" => "Amministratore di sistema (riga di comando)".to_owned(),
        person => person.to_owned(),
    }
}

/// What an audit entry is about: the kind of object in words, and its id.
pub fn object_it(object_type: &str, object_id: &str) -> String {
    let kind = match object_type {
        "registration" => "Registrazione id",
        "inbound_message" => "Messaggio ricevuto id",
        "outbox" => "Invio id",
        "staff_user" => "Utente",
        "office" => "Ufficio id",
        "api_token" => "Token API id",
        "policy" => return "Politiche di protocollazione".to_owned(),
        "register_day" => {
            return match chrono::NaiveDate::parse_from_str(object_id, "%Y-%m-%d") {
                Ok(day) => format!("Registro giornaliero del {}", day.format("%d/%m/%Y")),
                Err(_) => format!("Registro giornaliero del {object_id}"),
            };
        }
        "titolario_version" => "Versione del titolario id",
        "fascicolo" => "Fascicolo id",
        other => other,
    };
    format!("{kind} {object_id}")
}

/// What a stored trusted list is to the service.
pub fn trusted_list_role_it(role: sigillo_store::trusted_lists::ListRole) -> &'static str {
    match role {
        sigillo_store::trusted_lists::ListRole::First => "lista principale (configurata)",
        sigillo_store::trusted_lists::ListRole::Pointed => "lista nazionale (indicata dalla principale)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_act_and_system_actor_has_italian_words() {
        for a in AuditAction::ALL {
            let label = action_it(a);
            assert!(!label.contains('.') && !label.contains('_'), "{label}");
        }
        for system in sigillo_store::register::SYSTEM_ACTORS {
            assert_ne!(actor_it(system), system);
        }
        assert_eq!(actor_it("intake"), "Ricezione automatica PEC");
        assert_eq!(actor_it("m.rossi"), "m.rossi");
        assert_eq!(object_it("registration", "12"), "Registrazione id 12");
    }
}
