//! What a classifier's report leads to, before any database work.

use sigillo_pec::MessageReport;
use sigillo_pec::report::Decision;
use sigillo_store::inbound::{MessageState, PecType};

/// The decision of a report as the message row records it.
pub struct Plan {
    pub state: MessageState,
    pub reasons: serde_json::Value,
    pub pec_type: PecType,
    /// The `X-Ricevuta` kind of a provider receipt (`accettazione`, `avvenuta-consegna`, …).
    pub pec_receipt: Option<String>,
}

impl Plan {
    pub fn from_report(report: &MessageReport) -> Plan {
        Plan {
            state: state_of(report.decision),
            reasons: serde_json::to_value(&report.reasons).unwrap_or_else(|_| serde_json::json!([])),
            pec_type: pec_type_of(report.pec.pec_type),
            pec_receipt: report.pec.receipt.as_ref().and_then(|r| match serde_json::to_value(r) {
                Ok(serde_json::Value::String(s)) => Some(s),
                _ => None,
            }),
        }
    }
}

/// The state a decision puts a message in.
pub fn state_of(decision: Decision) -> MessageState {
    match decision {
        Decision::Register => MessageState::Registered,
        Decision::Reject => MessageState::Rejected,
        Decision::Review => MessageState::Review,
        Decision::LinkReceipt => MessageState::Receipt,
    }
}

/// The decision a message's state records; `None` while it is undecided or in error.
pub fn decision_of(state: MessageState) -> Option<Decision> {
    match state {
        MessageState::Registered => Some(Decision::Register),
        MessageState::Rejected => Some(Decision::Reject),
        MessageState::Review => Some(Decision::Review),
        MessageState::Receipt => Some(Decision::LinkReceipt),
        MessageState::Received | MessageState::Error => None,
    }
}

/// The classifier's PEC category as the schema stores it.
pub fn pec_type_of(t: sigillo_pec::kind::PecType) -> PecType {
    use sigillo_pec::kind::PecType as P;
    match t {
        P::PostaCertificata => PecType::PostaCertificata,
        P::Anomalia => PecType::Anomalia,
        P::Ricevuta => PecType::Ricevuta,
        P::None => PecType::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decision_is_recorded_as_a_state_and_read_back() {
        for d in [Decision::Register, Decision::Reject, Decision::Review, Decision::LinkReceipt] {
            assert_eq!(decision_of(state_of(d)), Some(d));
        }
        assert_eq!(decision_of(MessageState::Error), None);
        assert_eq!(decision_of(MessageState::Received), None);
    }

    #[test]
    fn pec_types_keep_their_names_in_the_schema() {
        use sigillo_pec::kind::PecType as P;
        for t in [P::PostaCertificata, P::Anomalia, P::Ricevuta, P::None] {
            assert_eq!(serde_json::to_value(t).ok(), serde_json::to_value(pec_type_of(t)).ok());
        }
    }
}
