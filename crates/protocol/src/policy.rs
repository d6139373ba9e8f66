//! The comune's policy switches applied to the classifier's decision: the one place where a
//! report's default decision (the table of `sigillo_pec::report::decide`) becomes the
//! decision actually taken.
//!
//! The classifier stays pure and always applies the default table; its reasons are kept as
//! they are whatever the policy says, so a message registered under "register and flag"
//! still carries `UNSIGNED_ATTACHMENT`, which the registration shows as a flag. Everything
//! downstream (the message's state, the registration, the receipt or notice to the citizen)
//! reads the decision set here.

use sigillo_pec::MessageReport;
use sigillo_pec::kind::PecType;
use sigillo_pec::report::{Decision, Reason, ReasonCode};
pub use sigillo_store::policy::{AnomalyPolicy, IndeterminatePolicy, Policy, UnsignedPolicy};

/// The decision taken under `policy` for a report of type `pec_type` whose classifier
/// decided `default` for `reasons`.
pub fn decide(pec_type: PecType, default: Decision, reasons: &[Reason], policy: &Policy) -> Decision {
    match pec_type {
        PecType::Anomalia => match policy.anomaly {
            AnomalyPolicy::Reject => default,
            AnomalyPolicy::Review => Decision::Review,
        },
        // Nothing certifies a message with no envelope at all, and a receipt is linked.
        PecType::None | PecType::Ricevuta => default,
        PecType::PostaCertificata => {
            // The table's rule, reason by reason, the worst one wins (reject > review >
            // register); a forged envelope is rejected whatever the rest says.
            reasons.iter().map(|r| for_reason(r.code, policy)).fold(Decision::Register, worse)
        }
    }
}

/// What one reason of a transport envelope leads to under `policy`.
fn for_reason(code: ReasonCode, policy: &Policy) -> Decision {
    match code {
        ReasonCode::ForgedEnvelope | ReasonCode::InvalidSignature | ReasonCode::NotPec => Decision::Reject,
        ReasonCode::UnsignedAttachment => match policy.unsigned {
            UnsignedPolicy::Reject => Decision::Reject,
            UnsignedPolicy::RegisterFlag => Decision::Register,
        },
        ReasonCode::SignatureIndeterminate => match policy.indeterminate {
            IndeterminatePolicy::Review => Decision::Review,
            IndeterminatePolicy::Reject => Decision::Reject,
        },
        ReasonCode::WrappedEnvelope | ReasonCode::UncheckedAttachment => Decision::Review,
    }
}

fn worse(a: Decision, b: Decision) -> Decision {
    let rank = |d: Decision| match d {
        Decision::Reject => 3,
        Decision::Review => 2,
        Decision::LinkReceipt => 1,
        Decision::Register => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Sets the report's decision to the one taken under `policy`; the reasons stay. Returns
/// whether it differs from the classifier's.
pub fn apply(report: &mut MessageReport, policy: &Policy) -> bool {
    let taken = decide(report.pec.pec_type, report.decision, &report.reasons, policy);
    let changed = taken != report.decision;
    report.decision = taken;
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(code: ReasonCode) -> Reason {
        Reason { code, detail: String::new() }
    }

    const ALL_CODES: [ReasonCode; 7] = [
        ReasonCode::NotPec,
        ReasonCode::ForgedEnvelope,
        ReasonCode::UnsignedAttachment,
        ReasonCode::InvalidSignature,
        ReasonCode::SignatureIndeterminate,
        ReasonCode::WrappedEnvelope,
        ReasonCode::UncheckedAttachment,
    ];

    /// The default policy must give back the classifier's table (ARCHITECTURE.md).
    #[test]
    fn the_default_policy_keeps_the_classifiers_decisions() {
        let p = Policy::default();
        let t = PecType::PostaCertificata;
        assert_eq!(decide(t, Decision::Register, &[], &p), Decision::Register);
        assert_eq!(decide(t, Decision::Reject, &[reason(ReasonCode::UnsignedAttachment)], &p), Decision::Reject);
        assert_eq!(decide(t, Decision::Reject, &[reason(ReasonCode::InvalidSignature)], &p), Decision::Reject);
        assert_eq!(decide(t, Decision::Review, &[reason(ReasonCode::SignatureIndeterminate)], &p), Decision::Review);
        assert_eq!(decide(t, Decision::Review, &[reason(ReasonCode::WrappedEnvelope)], &p), Decision::Review);
        assert_eq!(decide(t, Decision::Review, &[reason(ReasonCode::UncheckedAttachment)], &p), Decision::Review);
        assert_eq!(decide(t, Decision::Reject, &[reason(ReasonCode::ForgedEnvelope)], &p), Decision::Reject);
        assert_eq!(
            decide(t, Decision::Reject, &[reason(ReasonCode::SignatureIndeterminate), reason(ReasonCode::UnsignedAttachment)], &p),
            Decision::Reject
        );
        assert_eq!(decide(PecType::Anomalia, Decision::Reject, &[reason(ReasonCode::NotPec)], &p), Decision::Reject);
        assert_eq!(decide(PecType::None, Decision::Reject, &[reason(ReasonCode::NotPec)], &p), Decision::Reject);
        assert_eq!(decide(PecType::Ricevuta, Decision::LinkReceipt, &[], &p), Decision::LinkReceipt);
        assert_eq!(
            decide(PecType::Ricevuta, Decision::LinkReceipt, &[reason(ReasonCode::ForgedEnvelope)], &p),
            Decision::LinkReceipt
        );
    }

    #[test]
    fn unsigned_attachments_registered_and_flagged_only_when_nothing_worse() {
        let p = Policy { unsigned: UnsignedPolicy::RegisterFlag, ..Policy::default() };
        let t = PecType::PostaCertificata;
        assert_eq!(decide(t, Decision::Reject, &[reason(ReasonCode::UnsignedAttachment)], &p), Decision::Register);
        // Another document's failed signature is still a rejection, an INDETERMINATE one a review.
        assert_eq!(
            decide(t, Decision::Reject, &[reason(ReasonCode::UnsignedAttachment), reason(ReasonCode::InvalidSignature)], &p),
            Decision::Reject
        );
        assert_eq!(
            decide(t, Decision::Reject, &[reason(ReasonCode::UnsignedAttachment), reason(ReasonCode::SignatureIndeterminate)], &p),
            Decision::Review
        );
        assert_eq!(
            decide(t, Decision::Reject, &[reason(ReasonCode::UnsignedAttachment), reason(ReasonCode::WrappedEnvelope)], &p),
            Decision::Review
        );
    }

    #[test]
    fn anomaly_envelopes_may_go_to_review_but_plain_mail_stays_rejected() {
        let p = Policy { anomaly: AnomalyPolicy::Review, ..Policy::default() };
        assert_eq!(decide(PecType::Anomalia, Decision::Reject, &[reason(ReasonCode::NotPec)], &p), Decision::Review);
        assert_eq!(decide(PecType::None, Decision::Reject, &[reason(ReasonCode::NotPec)], &p), Decision::Reject);
    }

    #[test]
    fn indeterminate_signatures_may_be_rejected() {
        let p = Policy { indeterminate: IndeterminatePolicy::Reject, ..Policy::default() };
        let t = PecType::PostaCertificata;
        assert_eq!(decide(t, Decision::Review, &[reason(ReasonCode::SignatureIndeterminate)], &p), Decision::Reject);
        // Other review reasons are not signatures: still the office's.
        assert_eq!(decide(t, Decision::Review, &[reason(ReasonCode::WrappedEnvelope)], &p), Decision::Review);
    }

    #[test]
    fn no_switch_ever_registers_a_forged_or_failed_envelope() {
        let everything = Policy {
            unsigned: UnsignedPolicy::RegisterFlag,
            anomaly: AnomalyPolicy::Review,
            indeterminate: IndeterminatePolicy::Reject,
        };
        for code in [ReasonCode::ForgedEnvelope, ReasonCode::InvalidSignature, ReasonCode::NotPec] {
            assert_eq!(decide(PecType::PostaCertificata, Decision::Reject, &[reason(code)], &everything), Decision::Reject);
        }
        for code in ALL_CODES {
            assert_ne!(decide(PecType::None, Decision::Reject, &[reason(code)], &everything), Decision::Register);
        }
    }
}
