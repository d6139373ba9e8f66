//! Reading a list's tree into the model. Strict where trust depends on it (dates, status,
//! certificates), lenient about what only informs (names, addresses are not read).

use chrono::{DateTime, Utc};
use sigillo_signature::cert::Certificate;
use sigillo_signature::qualification::{Assert, Criteria, Criterion, Qualification, Qualifier};
use sigillo_signature::xmldsig::{Document, NodeId, element_children, text};

use crate::model::{HistoryEntry, Pointer, Provider, Service, ServiceStatus, TrustedList};
use crate::{TSL_NS, TrustListError};

/// Number of trust services over which a list is refused as unreasonable (Germany's list,
/// the largest, has a few hundred).
const MAX_SERVICES: usize = 20_000;

fn fail(what: impl Into<String>) -> TrustListError {
    TrustListError::Format(what.into())
}

fn is(doc: &Document<'_>, id: NodeId, local: &str) -> bool {
    doc.element(id).is_some_and(|e| e.name.matches(Some(TSL_NS), local))
}

fn child(doc: &Document<'_>, id: NodeId, local: &str) -> Option<NodeId> {
    element_children(doc, id).into_iter().find(|c| is(doc, *c, local))
}

fn children(doc: &Document<'_>, id: NodeId, local: &str) -> Vec<NodeId> {
    element_children(doc, id).into_iter().filter(|c| is(doc, *c, local)).collect()
}

fn required(doc: &Document<'_>, id: NodeId, local: &str, ctx: &str) -> Result<NodeId, TrustListError> {
    child(doc, id, local).ok_or_else(|| fail(format!("{ctx}: no {local}")))
}

fn trimmed(doc: &Document<'_>, id: NodeId) -> String {
    text(doc, id).trim().to_owned()
}

fn time(doc: &Document<'_>, id: NodeId, ctx: &str) -> Result<DateTime<Utc>, TrustListError> {
    let t = trimmed(doc, id);
    DateTime::parse_from_rfc3339(&t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| fail(format!("{ctx}: date {t:?} ({e})")))
}

/// The English name among `Name` children, else the first.
fn name(doc: &Document<'_>, id: Option<NodeId>) -> String {
    let Some(id) = id else { return String::new() };
    let names = children(doc, id, "Name");
    let english = names.iter().find(|n| {
        doc.element(**n).is_some_and(|e| {
            e.attributes.iter().any(|a| a.name.local_name == "lang" && a.value.eq_ignore_ascii_case("en"))
        })
    });
    english.or(names.first()).map(|n| trimmed(doc, *n)).unwrap_or_default()
}

/// X509Certificate elements under ServiceDigitalIdentity/DigitalId. A certificate that
/// does not parse is left out and noted in `unreadable`: that fails closed (a pointer
/// without it may verify nothing, a service without it anchors nothing), while refusing
/// the whole list for it would throw away every other service. Real lists have such
/// certificates: one of AgID's two list-signing certificates in the 2019 LOTL declares one
/// unused bit in its signature BIT STRING.
fn certificates(doc: &Document<'_>, sdi: NodeId, ctx: &str, unreadable: &mut Vec<String>) -> Vec<Certificate> {
    let mut out = Vec::new();
    for id in children(doc, sdi, "DigitalId") {
        for c in children(doc, id, "X509Certificate") {
            let clean: String = text(doc, c).chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(clean.as_bytes())
            };
            match der.map_err(|e| e.to_string()).and_then(|d| Certificate::from_der(&d).map_err(|e| e.to_string())) {
                Ok(cert) => out.push(cert),
                Err(e) => unreadable.push(format!("{ctx}: certificate left out ({e})")),
            }
        }
    }
    out
}

pub(crate) fn list(doc: &Document<'_>, root: NodeId) -> Result<TrustedList, TrustListError> {
    let si = required(doc, root, "SchemeInformation", "TrustServiceStatusList")?;
    let seq_el = required(doc, si, "TSLSequenceNumber", "SchemeInformation")?;
    let seq = trimmed(doc, seq_el);
    let sequence_number = seq.parse().map_err(|_| fail(format!("TSLSequenceNumber {seq:?}")))?;
    let territory = trimmed(doc, required(doc, si, "SchemeTerritory", "SchemeInformation")?);
    let tsl_type = trimmed(doc, required(doc, si, "TSLType", "SchemeInformation")?);
    let operator = name(doc, child(doc, si, "SchemeOperatorName"));
    let issued = time(doc, required(doc, si, "ListIssueDateTime", "SchemeInformation")?, "ListIssueDateTime")?;
    let next_update = match child(doc, si, "NextUpdate").and_then(|n| child(doc, n, "dateTime")) {
        Some(d) => Some(time(doc, d, "NextUpdate")?),
        None => None,
    };

    let mut unreadable = Vec::new();
    let mut pointers = Vec::new();
    if let Some(ptrs) = child(doc, si, "PointersToOtherTSL") {
        for p in children(doc, ptrs, "OtherTSLPointer") {
            let location = child(doc, p, "TSLLocation").map(|l| trimmed(doc, l)).unwrap_or_default();
            let ctx = format!("pointer to {location}");
            let mut certs = Vec::new();
            if let Some(sdis) = child(doc, p, "ServiceDigitalIdentities") {
                for sdi in children(doc, sdis, "ServiceDigitalIdentity") {
                    certs.extend(certificates(doc, sdi, &ctx, &mut unreadable));
                }
            }
            let (mut territory, mut tsl_type, mut mime_type) = (None, None, None);
            if let Some(info) = child(doc, p, "AdditionalInformation") {
                for oi in children(doc, info, "OtherInformation") {
                    for v in element_children(doc, oi) {
                        let local = doc.element(v).map(|e| e.name.local_name.to_string()).unwrap_or_default();
                        match local.as_str() {
                            "SchemeTerritory" => territory = Some(trimmed(doc, v)),
                            "TSLType" => tsl_type = Some(trimmed(doc, v)),
                            "MimeType" => mime_type = Some(trimmed(doc, v)),
                            _ => {}
                        }
                    }
                }
            }
            pointers.push(Pointer { location, territory, tsl_type, mime_type, certificates: certs });
        }
    }

    let mut providers = Vec::new();
    let mut count = 0usize;
    if let Some(tspl) = child(doc, root, "TrustServiceProviderList") {
        for tsp in children(doc, tspl, "TrustServiceProvider") {
            let info = required(doc, tsp, "TSPInformation", "TrustServiceProvider")?;
            let pname = name(doc, child(doc, info, "TSPName"));
            let mut services = Vec::new();
            if let Some(svcs) = child(doc, tsp, "TSPServices") {
                for svc in children(doc, svcs, "TSPService") {
                    count += 1;
                    if count > MAX_SERVICES {
                        return Err(fail(format!("more than {MAX_SERVICES} services")));
                    }
                    services.push(service(doc, svc, &pname, &mut unreadable)?);
                }
            }
            providers.push(Provider { name: pname, services });
        }
    }
    Ok(TrustedList { territory, sequence_number, tsl_type, operator, issued, next_update, pointers, providers, unreadable })
}

fn service(doc: &Document<'_>, svc: NodeId, provider: &str, unreadable: &mut Vec<String>) -> Result<Service, TrustListError> {
    let ctx = format!("service of {provider}");
    let info = required(doc, svc, "ServiceInformation", &ctx)?;
    let type_id = trimmed(doc, required(doc, info, "ServiceTypeIdentifier", &ctx)?);
    let name = name(doc, child(doc, info, "ServiceName"));
    let ctx = format!("service {name:?} of {provider}");
    let status_uri = trimmed(doc, required(doc, info, "ServiceStatus", &ctx)?);
    let since = time(doc, required(doc, info, "StatusStartingTime", &ctx)?, &ctx)?;
    let certificates = match child(doc, info, "ServiceDigitalIdentity") {
        Some(sdi) => certificates(doc, sdi, &ctx, unreadable),
        None => Vec::new(),
    };
    let mut history = Vec::new();
    if let Some(h) = child(doc, svc, "ServiceHistory") {
        for inst in children(doc, h, "ServiceHistoryInstance") {
            let type_id = trimmed(doc, required(doc, inst, "ServiceTypeIdentifier", &ctx)?);
            let status_uri = trimmed(doc, required(doc, inst, "ServiceStatus", &ctx)?);
            let since = time(doc, required(doc, inst, "StatusStartingTime", &ctx)?, &ctx)?;
            history.push(HistoryEntry { type_id, status: ServiceStatus::from_uri(&status_uri), status_uri, since });
        }
    }
    let qualifications = qualifications(doc, info);
    Ok(Service { type_id, name, status: ServiceStatus::from_uri(&status_uri), status_uri, since, certificates, history, qualifications })
}

/// The namespace of the `Qualifications` extension (ETSI TS 119 612 §5.5.9.2).
const ECC_NS: &str = "http://uri.etsi.org/TrstSvc/SvcInfoExt/eSigDir-1999-93-EC-TrustedList/#";
/// XAdES 1.3.2, whose `Identifier` names a policy.
const XADES_NS: &str = "http://uri.etsi.org/01903/v1.3.2#";

fn ns_children(doc: &Document<'_>, id: NodeId, ns: &str, local: &str) -> Vec<NodeId> {
    element_children(doc, id).into_iter().filter(|c| doc.element(*c).is_some_and(|e| e.name.matches(Some(ns), local))).collect()
}

fn attr(doc: &Document<'_>, id: NodeId, local: &str) -> Option<String> {
    doc.element(id)?.attributes.iter().find(|a| a.name.local_name == local).map(|a| a.value.trim().to_owned())
}

/// The current `Qualifications` of a service (ServiceInformationExtensions). Informative
/// for the verdict's "qualified" only: an element we cannot read is a criterion never met.
fn qualifications(doc: &Document<'_>, info: NodeId) -> Vec<Qualification> {
    let mut out = Vec::new();
    let Some(exts) = child(doc, info, "ServiceInformationExtensions") else { return out };
    for ext in children(doc, exts, "Extension") {
        for q in ns_children(doc, ext, ECC_NS, "Qualifications") {
            for el in ns_children(doc, q, ECC_NS, "QualificationElement") {
                let qualifiers = ns_children(doc, el, ECC_NS, "Qualifiers")
                    .into_iter()
                    .flat_map(|qs| ns_children(doc, qs, ECC_NS, "Qualifier"))
                    .filter_map(|q| attr(doc, q, "uri").and_then(|u| Qualifier::from_uri(&u)))
                    .collect();
                if let Some(list) = ns_children(doc, el, ECC_NS, "CriteriaList").first() {
                    out.push(Qualification { qualifiers, criteria: criteria(doc, *list) });
                }
            }
        }
    }
    out
}

const KEY_USAGE_BITS: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "crlSign",
    "encipherOnly",
    "decipherOnly",
];

fn criteria(doc: &Document<'_>, list: NodeId) -> Criteria {
    let assert = match attr(doc, list, "assert").as_deref() {
        Some("all") => Assert::All,
        Some("atLeastOne") => Assert::AtLeastOne,
        Some("none") => Assert::None,
        _ => return Criteria { assert: Assert::All, items: vec![Criterion::Unsupported] },
    };
    let mut items = Vec::new();
    for c in element_children(doc, list) {
        let Some(e) = doc.element(c) else { continue };
        let item = if e.name.matches(Some(ECC_NS), "Description") {
            continue;
        } else if e.name.matches(Some(ECC_NS), "KeyUsage") {
            let bits: Option<Vec<(u8, bool)>> = ns_children(doc, c, ECC_NS, "KeyUsageBit")
                .into_iter()
                .map(|b| {
                    let name = attr(doc, b, "name")?;
                    let bit = KEY_USAGE_BITS.iter().position(|n| *n == name || (name == "contentCommitment" && *n == "nonRepudiation"))?;
                    let set = match trimmed(doc, b).as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return None,
                    };
                    Some((u8::try_from(bit).ok()?, set))
                })
                .collect();
            bits.map_or(Criterion::Unsupported, Criterion::KeyUsage)
        } else if e.name.matches(Some(ECC_NS), "PolicySet") {
            let oids: Option<Vec<Vec<u8>>> = ns_children(doc, c, ECC_NS, "PolicyIdentifier")
                .into_iter()
                .flat_map(|p| ns_children(doc, p, XADES_NS, "Identifier"))
                .map(|i| {
                    let t = trimmed(doc, i);
                    sigillo_signature::oids::from_dotted(t.strip_prefix("urn:oid:").unwrap_or(&t))
                })
                .collect();
            match oids {
                Some(o) if !o.is_empty() => Criterion::PolicySet(o),
                _ => Criterion::Unsupported,
            }
        } else if e.name.matches(Some(ECC_NS), "CriteriaList") {
            Criterion::List(criteria(doc, c))
        } else {
            Criterion::Unsupported
        };
        items.push(item);
    }
    Criteria { assert, items }
}
