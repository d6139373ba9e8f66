//! From cryptographic results to ETSI verdicts: trust, time, revocation and the crypto
//! and format constraints that apply to document signatures.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cert::Certificate;
use crate::cms::hex;
use crate::oids;
use crate::report::{Indication, SignerReport, SignerRole, SubIndication};
use crate::signer::{EssBinding, SignerCheck};
use crate::trust::{ChainOutcome, Revocation, TrustService, TrustStore};

/// Smallest RSA modulus accepted for document signatures (ETSI TS 119 312).
const MIN_RSA_BITS: usize = 1900;

/// What the verdict needs besides the signer's own check.
pub struct Context<'a> {
    pub trust: &'a TrustStore,
    pub now: DateTime<Utc>,
    /// Certificates carried by the file (all layers), for path building.
    pub pool: &'a [Certificate],
}

/// Turns one SignerCheck (and its countersignatures) into reports, signer first.
pub fn judge(check: &SignerCheck, role: SignerRole, layer: usize, ctx: &Context<'_>) -> Vec<SignerReport> {
    let mut service = None;
    let (verdict, sub, detail, poe) = decide(check, role, ctx, &mut service);
    let intact = check.failure.is_none() && check.cert.is_some() && timestamp_failure(check).is_none();
    let mut report = SignerReport {
        signing_time: check.signing_time,
        timestamp_time: poe,
        digest_algorithm: check.digest.map(|d| d.name()),
        intact,
        ..SignerReport::bare(role, layer, verdict, sub, detail)
    };
    if let Some(c) = &check.cert {
        report.subject = Some(c.subject.to_string());
        report.common_name = c.subject.get(&oids::AT_COMMON_NAME).map(str::to_owned);
        report.given_name = c.subject.get(&oids::AT_GIVEN_NAME).map(str::to_owned);
        report.surname = c.subject.get(&oids::AT_SURNAME).map(str::to_owned);
        report.fiscal_code = c.fiscal_code();
        report.issuer = Some(c.issuer.to_string());
        report.serial_number = Some(hex(&c.serial));
        report.email = c.emails.first().cloned();
        report.not_before = Some(c.not_before);
        report.not_after = Some(c.not_after);
        report.qualified = c.qc_compliance;
        report.qc_statements.clone_from(&c.qc_statements);
        report.qualified_signature = verdict == Indication::TotalPassed
            && service.as_ref().is_some_and(|s| s.type_id == CA_QC && crate::qualification::qualified_for_esig(c, &s.qualifications));
    }
    report.trust_service = service.map(|s| s.as_ref().clone());
    let mut out = vec![report];
    for cs in &check.countersignatures {
        out.extend(judge(cs, SignerRole::Countersigner, layer, ctx));
    }
    out
}

/// The service type of a CA issuing qualified certificates (ETSI TS 119 612 §5.5.1.1).
const CA_QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";

/// A CAdES-T signature timestamp that is present but broken fails the signature: its
/// imprint not matching the signature value (HASH_FAILURE) or its own signature not
/// verifying (SIG_CRYPTO_FAILURE) means the file was altered. A token we cannot read or
/// whose TSA certificate is missing is only unusable as a proof of existence.
fn timestamp_failure(check: &SignerCheck) -> Option<crate::signer::Failure> {
    for t in &check.timestamps {
        if let Some(f) = t.failure.as_ref().filter(|f| f.sub == SubIndication::HashFailure) {
            return Some(crate::signer::Failure { sub: f.sub, detail: format!("signature timestamp: {}", f.detail) });
        }
        if let Some(f) = t
            .signer
            .as_ref()
            .and_then(|s| s.failure.as_ref())
            .filter(|f| matches!(f.sub, SubIndication::HashFailure | SubIndication::SigCryptoFailure))
        {
            return Some(crate::signer::Failure { sub: f.sub, detail: format!("signature timestamp: {}", f.detail) });
        }
    }
    None
}

type Decision = (Indication, Option<SubIndication>, String, Option<DateTime<Utc>>);

/// `chained` receives the trust service whose certificate the signer's path ends at, when
/// the path was built.
fn decide(check: &SignerCheck, role: SignerRole, ctx: &Context<'_>, chained: &mut Option<Arc<TrustService>>) -> Decision {
    let no = |sub: SubIndication, detail: String| (sub.indication(), Some(sub), detail, None);
    if let Some(f) = &check.failure {
        return no(f.sub, f.detail.clone());
    }
    let Some(cert) = &check.cert else {
        return no(SubIndication::NoSigningCertificateFound, "signer certificate not found".into());
    };
    if let Some(f) = timestamp_failure(check) {
        return no(f.sub, f.detail);
    }
    if !check.has_signed_attrs {
        return no(
            SubIndication::NoSigningCertificateFound,
            "no signed attributes (plain PKCS#7): the signing certificate is not bound; not CAdES-BES \
             (Delib. CNIPA 45/2009: NON_AMMESSO)"
                .into(),
        );
    }
    if check.ess == EssBinding::Absent {
        return no(
            SubIndication::NoSigningCertificateFound,
            "no ESS signing-certificate attribute: not CAdES-BES (Delib. CNIPA 45/2009: NON_AMMESSO)".into(),
        );
    }
    if let Some(d) = check.digest.filter(|d| d.is_weak()) {
        return no(SubIndication::CryptoConstraintsFailureNoPoe, format!("{} is not an acceptable digest algorithm", d.name()));
    }
    if let Some(bits) = cert.public_key.as_ref().ok().and_then(|k| k.rsa_bits()).filter(|b| *b < MIN_RSA_BITS) {
        return no(SubIndication::CryptoConstraintsFailureNoPoe, format!("RSA key of {bits} bits is too short"));
    }

    // Proof of existence: an intact signature timestamp from a trusted TSA. First, since
    // the signer's path is built with the anchors in force at the reference time it gives.
    let poe = check
        .timestamps
        .iter()
        .filter(|t| t.intact())
        .filter(|t| {
            // The TSA must chain to an anchor (in force at the time it asserts) and its
            // certificate must cover that time.
            t.signer.as_ref().and_then(|s| s.cert.as_ref()).is_some_and(|tsa| {
                t.time.is_some_and(|time| {
                    tsa.valid_at(time) && matches!(ctx.trust.chain_at(tsa, ctx.pool, time), ChainOutcome::Trusted(_))
                })
            })
        })
        .filter_map(|t| t.time)
        .min();
    let reference = poe.unwrap_or(ctx.now);
    let with_poe = |(i, s, d, _): Decision| (i, s, d, poe);

    // A trusted-list service is an anchor only while it was granted: at the reference time
    // (a CA withdrawn before it trusts nothing; one withdrawn after it still vouches for
    // what was signed before).
    let path = match ctx.trust.chain_at(cert, ctx.pool, reference) {
        ChainOutcome::Trusted(p) => p,
        ChainOutcome::NoChain(_) => {
            return no(
                SubIndication::NoCertificateChainFound,
                format!("the certificate of {} does not chain to a trusted CA", cert.subject),
            );
        }
        ChainOutcome::NameConstraints(_, why) => return no(SubIndication::ChainConstraintsFailure, why),
    };
    if let Some(anchor) = path.last() {
        *chained = ctx.trust.service_of(anchor, reference).cloned();
    }

    // The claimed signing time must fall inside the signer certificate's validity: a
    // signature claiming a time before the certificate existed is inconsistent
    // (NOT_YET_VALID, a failure); one claiming a time after expiry was made with an expired
    // certificate, which no proof of existence can rescue.
    if let Some(claimed) = check.signing_time {
        if claimed < cert.not_before {
            return with_poe(no(
                SubIndication::NotYetValid,
                format!("claimed signing time {claimed} is before the certificate validity ({})", cert.not_before),
            ));
        }
        if claimed > cert.not_after {
            return with_poe(no(
                SubIndication::OutOfBoundsNoPoe,
                format!("claimed signing time {claimed} is after the certificate expiry ({})", cert.not_after),
            ));
        }
    }

    // The anchor's own dates bind nothing (RFC 5280 6.1.1 d: a trust anchor is a name and a key).
    let below_anchor = if path.len() > 1 { &path[..path.len() - 1] } else { &path[..] };
    for c in below_anchor {
        if reference < c.not_before {
            return with_poe(no(
                SubIndication::NotYetValid,
                format!("certificate {} is not yet valid at {reference}", c.subject),
            ));
        }
        if reference > c.not_after {
            return with_poe(no(
                SubIndication::OutOfBoundsNoPoe,
                format!("certificate {} expired on {} (reference time {reference}, no earlier proof of existence)", c.subject, c.not_after),
            ));
        }
    }
    let mut revocation_note = "revocation not checked (no CRL for the issuer)";
    for pair in path.windows(2) {
        let [c, issuer] = pair else { continue };
        match ctx.trust.revocation(c, issuer) {
            Revocation::Revoked(when) if when <= reference => {
                return with_poe(no(SubIndication::RevokedNoPoe, format!("certificate {} revoked on {when}", c.subject)));
            }
            Revocation::Revoked(_) | Revocation::Good => revocation_note = "not revoked (CRL)",
            Revocation::Unknown => {}
        }
    }
    // A firma digitale needs a certificate whose keyUsage says nonRepudiation
    // (contentCommitment); a certificate without the extension does not say it either.
    if role == SignerRole::Signer && cert.key_usage.is_none_or(|ku| ku & crate::cert::KU_NON_REPUDIATION == 0) {
        return with_poe(no(
            SubIndication::ChainConstraintsFailure,
            "the signer certificate lacks keyUsage nonRepudiation (required for a firma digitale)".into(),
        ));
    }
    // Online last, once everything else passed: a broken file costs no request.
    let online_note = match ctx.trust.online() {
        Some(source) => match online_revocation(source.as_ref(), &path, reference) {
            Ok(note) => Some(note),
            Err(decision) => return with_poe(decision),
        },
        None => None,
    };
    let revocation_note = online_note.as_deref().unwrap_or(revocation_note);
    let mut detail = format!("signature intact, certificate trusted, {revocation_note}");
    if check.resorted {
        detail.push_str("; signed attributes verified in DER order (stored unsorted)");
    }
    (Indication::TotalPassed, None, detail, poe)
}

/// The online status of every certificate of the path below the anchor (the signer's first).
/// A certificate revoked at or before `reference` fails the signature (REVOKED_NO_POE); one
/// revoked after it does not (the signature was made while it was good); no answer to be had
/// is TRY_LATER, never a pass. Certificates that name no source are not asked.
fn online_revocation(
    source: &dyn crate::revocation::RevocationSource,
    path: &[Certificate],
    reference: DateTime<Utc>,
) -> Result<String, Decision> {
    use crate::revocation::{Online, Status};
    let fail = |sub: SubIndication, detail: String| (sub.indication(), Some(sub), detail, None);
    let mut sources = Vec::new();
    for pair in path.windows(2) {
        let [c, issuer] = pair else { continue };
        match source.status(c, issuer) {
            Online::Known(answer) => match answer.status {
                Status::Revoked(when) if when <= reference => {
                    return Err(fail(
                        SubIndication::RevokedNoPoe,
                        format!("certificate {} revoked on {when} ({}), before the reference time {reference}", c.subject, answer.source),
                    ));
                }
                Status::Revoked(_) | Status::Good => sources.push(answer.source),
                Status::Unknown => {
                    return Err(fail(
                        SubIndication::CertificateChainGeneralFailure,
                        format!("the revocation service does not know certificate {} ({})", c.subject, answer.source),
                    ));
                }
            },
            Online::NoSource => {}
            Online::Unavailable(why) => {
                return Err(fail(
                    SubIndication::TryLater,
                    format!("revocation status of certificate {} not available now: {why}", c.subject),
                ));
            }
        }
    }
    Ok(if sources.is_empty() {
        "revocation not checked (no OCSP responder or CRL named by the certificates)".to_owned()
    } else {
        format!("not revoked at the reference time ({})", sources.join(", "))
    })
}
