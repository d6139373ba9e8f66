//! Detached CMS verification for S/MIME (the PEC provider's envelope signature).

use chrono::{DateTime, Utc};

use crate::cert::Certificate;
use crate::report::{CmsCheck, CmsStatus, SignerInfoSummary, SubIndication};
use crate::signed_data::SignedData;
use crate::signer::verify_signer;
use crate::trust::{ChainOutcome, Revocation, TrustStore};
use crate::{input, oids};

pub use crate::report::{CmsCheck as Check, CmsStatus as Status};

/// Verify a detached CMS SignedData (e.g. S/MIME `application/pkcs7-signature`) over
/// `content`. The CMS may be DER, BER, base64 or PEM.
///
/// Policy for PEC envelopes: SHA-1 and SHA-256 RSA signatures are both accepted (providers
/// used SHA-1 until the late 2010s); MD5 is not. Every SignerInfo must verify. The signer
/// certificate must chain to an anchor of `trust` and be valid at `now` — pass the
/// message's reception time to judge archived messages. Revocation is checked against the
/// trust store's CRLs when it has any for the issuer.
pub fn verify_detached(cms: &[u8], content: &[u8], trust: &TrustStore, now: DateTime<Utc>) -> CmsCheck {
    let malformed = |detail: String| CmsCheck { status: CmsStatus::Malformed, signer: None, detail, subindication: None };
    let Some((der, _)) = input::unwrap_cms(cms) else {
        return malformed("not a CMS structure (neither DER/BER nor base64)".into());
    };
    let sd = match SignedData::from_content_info(&der) {
        Ok(sd) => sd,
        Err(e) => return malformed(format!("CMS: {e}")),
    };
    if sd.signers.is_empty() {
        return malformed("SignedData has no signers".into());
    }
    if let Some(ec) = &sd.econtent
        && !ec.eq_bytes(content)
    {
        return CmsCheck {
            status: CmsStatus::Invalid,
            signer: None,
            detail: "the signature encapsulates content different from the message part".into(),
            subindication: None,
        };
    }
    if !oids::is(&sd.econtent_type, &oids::DATA) {
        return malformed(format!("eContentType {} is not id-data", oids::dotted(&sd.econtent_type)));
    }

    let mut first: Option<SignerInfoSummary> = None;
    for (i, si) in sd.signers.iter().enumerate() {
        let check = verify_signer(si, &sd.certificates, &|d| d.hash(content), Some(&sd.econtent_type), 0);
        let summary = check.cert.as_ref().map(|c| summary(c, check.signing_time, check.digest.map(|d| d.name())));
        if first.is_none() {
            first.clone_from(&summary);
        }
        let n = i + 1;
        if let Some(f) = &check.failure {
            let status = CmsStatus::Invalid;
            let detail = match f.sub {
                SubIndication::NoSigningCertificateFound => format!("signer {n}: {}", f.detail),
                _ => format!("signer {n}: bytes changed or signature invalid: {}", f.detail),
            };
            return CmsCheck { status, signer: first, detail, subindication: None };
        }
        if check.digest == Some(crate::crypto::DigestAlg::Md5) {
            return CmsCheck {
                status: CmsStatus::Invalid,
                signer: first,
                detail: format!("signer {n}: MD5 is not acceptable"),
                subindication: None,
            };
        }
        let Some(cert) = check.cert.as_ref() else {
            return CmsCheck {
                status: CmsStatus::Invalid,
                signer: first,
                detail: format!("signer {n}: no certificate"),
                subindication: None,
            };
        };
        let untrusted =
            |detail: String| CmsCheck { status: CmsStatus::Untrusted, signer: first.clone(), detail, subindication: None };
        let path = match trust.chain_at(cert, &sd.certificates, now) {
            ChainOutcome::Trusted(path) => path,
            ChainOutcome::NoChain(_) => {
                return untrusted(format!("signer {n}: certificate {} does not chain to a trusted CA", cert.subject));
            }
            ChainOutcome::NameConstraints(_, why) => return untrusted(format!("signer {n}: {why}")),
        };
        for (k, c) in path.iter().enumerate() {
            // A trust anchor is a name and a key (RFC 5280 6.1.1 d): its own validity dates
            // bind nothing. AgID CA1 was re-issued on the same key in 2019, 2021 and 2025;
            // the providers' certificates it signed since 2017 chain to each version.
            let is_anchor = k > 0 && k + 1 == path.len();
            if !is_anchor && !c.valid_at(now) {
                return untrusted(format!(
                    "signer {n}: certificate {} is not valid at {} (valid {} – {})",
                    c.subject, now, c.not_before, c.not_after
                ));
            }
            if let Some(issuer) = path.get(k + 1)
                && let Revocation::Revoked(when) = trust.revocation(c, issuer)
                && when <= now
            {
                return CmsCheck {
                    subindication: Some(SubIndication::RevokedNoPoe),
                    ..untrusted(format!("signer {n}: certificate {} revoked on {when}", c.subject))
                };
            }
        }
        // Online last, once the rest passed (SIGILLO_REVOCATION=online).
        if let Some(source) = trust.online()
            && let Err(refused) = online_revocation(source.as_ref(), &path, now)
        {
            let (detail, subindication) = refused;
            return CmsCheck { subindication, ..untrusted(format!("signer {n}: {detail}")) };
        }
    }
    CmsCheck {
        status: CmsStatus::Valid,
        signer: first,
        detail: format!("{} signer(s) valid and trusted", sd.signers.len()),
        subindication: None,
    }
}

/// The provider certificate's status asked online, at `now` (the time the envelope is
/// judged at: for the intake the moment of reception, the one time we can prove the
/// envelope existed; its daticert's date is what the signer itself wrote, so it cannot be
/// the reference for that signer's revocation). Revoked by then: not trusted; revoked after
/// it: no effect; no status to be had now: not trusted for now, `TRY_LATER`; a certificate
/// that names no source is not asked.
fn online_revocation(
    source: &dyn crate::revocation::RevocationSource,
    path: &[Certificate],
    now: DateTime<Utc>,
) -> Result<(), (String, Option<SubIndication>)> {
    use crate::revocation::{Online, Status};
    for pair in path.windows(2) {
        let [c, issuer] = pair else { continue };
        match source.status(c, issuer) {
            Online::Known(answer) => match answer.status {
                Status::Revoked(when) if when <= now => {
                    return Err((
                        format!("certificate {} revoked on {when} ({})", c.subject, answer.source),
                        Some(SubIndication::RevokedNoPoe),
                    ));
                }
                Status::Revoked(_) | Status::Good => {}
                Status::Unknown => {
                    return Err((format!("the revocation service does not know certificate {} ({})", c.subject, answer.source), None));
                }
            },
            Online::NoSource => {}
            Online::Unavailable(why) => {
                return Err((
                    format!("revocation status of certificate {} not available now: {why}", c.subject),
                    Some(SubIndication::TryLater),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn summary(c: &Certificate, signing_time: Option<DateTime<Utc>>, digest: Option<&'static str>) -> SignerInfoSummary {
    SignerInfoSummary {
        subject: c.subject.to_string(),
        common_name: c.subject.get(&oids::AT_COMMON_NAME).map(str::to_owned),
        issuer: c.issuer.to_string(),
        serial_number: hex(&c.serial),
        email: c.emails.first().cloned(),
        signing_time,
        not_before: c.not_before,
        not_after: c.not_after,
        digest_algorithm: digest,
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
