//! Test trusted lists (ETSI TS 119 612 v2 shape): a scheme operator's list with services
//! and their status history, or a list of lists with pointers, signed enveloped by
//! `xmlsec1` (see [`crate::xml`]) like the real ones (exclusive C14N, RSA-SHA256).

use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::keys::PrivateKey;

pub const CA_QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";
pub const GRANTED: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted";
pub const WITHDRAWN: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn";
pub const GENERIC: &str = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric";
pub const LOTL: &str = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists";

/// A trust service: its current status from `since`, and earlier (status, since) pairs.
#[derive(Debug, Clone)]
pub struct TestService {
    pub provider: String,
    pub name: String,
    pub type_id: String,
    pub cert_der: Vec<u8>,
    pub status: String,
    pub since: DateTime<Utc>,
    pub history: Vec<(String, DateTime<Utc>)>,
}

/// A pointer to another list, with the certificates allowed to sign it.
#[derive(Debug, Clone)]
pub struct TestPointer {
    pub territory: String,
    pub location: String,
    pub certs_der: Vec<Vec<u8>>,
}

/// A list before signing.
#[derive(Debug, Clone)]
pub struct TestList {
    pub territory: String,
    pub tsl_type: String,
    pub sequence: u64,
    pub issued: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub pointers: Vec<TestPointer>,
    pub services: Vec<TestService>,
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl TestService {
    /// A CA/QC service of "Test Provider S.p.A." whose certificate is `cert_der`, in
    /// `status` since `since`, with its earlier (status, since) entries.
    pub fn ca_qc(cert_der: &[u8], name: &str, status: &str, since: DateTime<Utc>, history: Vec<(String, DateTime<Utc>)>) -> TestService {
        TestService {
            provider: "Test Provider S.p.A.".into(),
            name: name.into(),
            type_id: CA_QC.into(),
            cert_der: cert_der.to_vec(),
            status: status.into(),
            since,
            history,
        }
    }
}

impl TestList {
    /// The unsigned XML.
    pub fn xml(&self) -> String {
        let mut pointers = String::new();
        for p in &self.pointers {
            let ids: String = p
                .certs_der
                .iter()
                .map(|c| format!("<ServiceDigitalIdentity><DigitalId><X509Certificate>{}</X509Certificate></DigitalId></ServiceDigitalIdentity>", b64(c)))
                .collect();
            pointers.push_str(&format!(
                r#"<OtherTSLPointer><ServiceDigitalIdentities>{ids}</ServiceDigitalIdentities><TSLLocation>{}</TSLLocation><AdditionalInformation><OtherInformation><TSLType>{GENERIC}</TSLType></OtherInformation><OtherInformation><SchemeTerritory>{}</SchemeTerritory></OtherInformation><OtherInformation><ns4:MimeType>application/vnd.etsi.tsl+xml</ns4:MimeType></OtherInformation></AdditionalInformation></OtherTSLPointer>"#,
                esc(&p.location),
                esc(&p.territory)
            ));
        }
        let pointers = if pointers.is_empty() { String::new() } else { format!("<PointersToOtherTSL>{pointers}</PointersToOtherTSL>") };
        let mut providers: Vec<(String, String)> = Vec::new();
        for s in &self.services {
            let history: String = s
                .history
                .iter()
                .map(|(status, since)| {
                    format!(
                        "<ServiceHistoryInstance><ServiceTypeIdentifier>{}</ServiceTypeIdentifier><ServiceName><Name xml:lang=\"en\">{}</Name></ServiceName><ServiceDigitalIdentity><DigitalId><X509Certificate>{}</X509Certificate></DigitalId></ServiceDigitalIdentity><ServiceStatus>{status}</ServiceStatus><StatusStartingTime>{}</StatusStartingTime></ServiceHistoryInstance>",
                        s.type_id,
                        esc(&s.name),
                        b64(&s.cert_der),
                        time(*since)
                    )
                })
                .collect();
            let history = if history.is_empty() { String::new() } else { format!("<ServiceHistory>{history}</ServiceHistory>") };
            let svc = format!(
                "<TSPService><ServiceInformation><ServiceTypeIdentifier>{}</ServiceTypeIdentifier><ServiceName><Name xml:lang=\"en\">{}</Name></ServiceName><ServiceDigitalIdentity><DigitalId><X509Certificate>{}</X509Certificate></DigitalId></ServiceDigitalIdentity><ServiceStatus>{}</ServiceStatus><StatusStartingTime>{}</StatusStartingTime></ServiceInformation>{history}</TSPService>",
                s.type_id,
                esc(&s.name),
                b64(&s.cert_der),
                s.status,
                time(s.since)
            );
            match providers.iter_mut().find(|(p, _)| *p == s.provider) {
                Some((_, svcs)) => svcs.push_str(&svc),
                None => providers.push((s.provider.clone(), svc)),
            }
        }
        let tsps: String = providers
            .iter()
            .map(|(p, svcs)| {
                format!(
                    "<TrustServiceProvider><TSPInformation><TSPName><Name xml:lang=\"en\">{}</Name></TSPName></TSPInformation><TSPServices>{svcs}</TSPServices></TrustServiceProvider>",
                    esc(p)
                )
            })
            .collect();
        let tsps = if tsps.is_empty() { String::new() } else { format!("<TrustServiceProviderList>{tsps}</TrustServiceProviderList>") };
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#" xmlns:ns4="http://uri.etsi.org/02231/v2/additionaltypes#" Id="tsl" TSLTag="http://uri.etsi.org/19612/TSLTag">
    <SchemeInformation><TSLVersionIdentifier>5</TSLVersionIdentifier><TSLSequenceNumber>{}</TSLSequenceNumber><TSLType>{}</TSLType><SchemeOperatorName><Name xml:lang="en">Test scheme operator {}</Name></SchemeOperatorName><SchemeTerritory>{}</SchemeTerritory>{pointers}<ListIssueDateTime>{}</ListIssueDateTime><NextUpdate><dateTime>{}</dateTime></NextUpdate></SchemeInformation>
    {tsps}
</TrustServiceStatusList>
"#,
            self.sequence,
            self.tsl_type,
            esc(&self.territory),
            esc(&self.territory),
            time(self.issued),
            time(self.next_update)
        )
    }

    /// The list signed enveloped by `key` (certificate `cert_der` in KeyInfo).
    pub fn signed(&self, key: &PrivateKey, cert_der: &[u8]) -> String {
        let template = crate::xml::enveloped_template(&self.xml(), key, crate::xml::EXC_C14N);
        crate::xml::sign(&template, key, cert_der, &[])
    }
}
