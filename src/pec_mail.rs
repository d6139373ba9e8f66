//! PEC messages for end-to-end tests, signed with a test PKI made in-process: a provider CA
//! and its signing certificate, a look-alike provider (same names, other keys) for forged
//! envelopes, and a citizen with a qualified-style certificate for signed attachments.
//! The shapes follow the PEC technical rules (DM 2/11/2005) as `crates/pec/tests/golden.rs`
//! builds them.

use std::path::Path;

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached, sign_detached};

pub struct Pki {
    provider_ca: Ca,
    provider: Leaf,
    lookalike: Leaf,
    citizen_ca: Ca,
    citizen: Leaf,
}

fn t(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or_default()
}

fn opts() -> SignOptions {
    SignOptions { signing_time: Some(t(2026, 1, 10)), ..SignOptions::default() }
}

fn b64(data: &[u8]) -> String {
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(s.len() + s.len() / 38 + 2);
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

/// What the citizen attached.
pub enum Attachment {
    /// A CAdES `.p7m` of `size` bytes of content, signed by the citizen.
    SignedP7m { size: usize },
    /// A plain PDF-looking file, unsigned.
    Unsigned,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let ca_spec = |cn: &str| CaSpec { not_before: Some(t(2025, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) };
        let provider_ca = Ca::new_root_with(ca_spec("Test PEC Providers CA"));
        let lookalike_ca = Ca::new_root_with(ca_spec("Test PEC Providers CA"));
        let leaf = || {
            LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2025, 1, 1), t(2040, 1, 1))
        };
        let provider = provider_ca.issue(leaf());
        let lookalike = lookalike_ca.issue(leaf());
        let citizen_ca = Ca::new_root_with(ca_spec("Test Qualified Signatures CA"));
        let citizen = citizen_ca
            .issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2025, 1, 1), t(2040, 1, 1)));
        Pki { provider_ca, provider, lookalike, citizen_ca, citizen }
    }

    /// Writes `dir/pec/` and `dir/signatures/` for `SIGILLO_TRUST_DIR`.
    pub fn write_trust_dir(&self, dir: &Path) {
        for (sub, pem) in [("pec", self.provider_ca.cert_pem()), ("signatures", self.citizen_ca.cert_pem())] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            std::fs::write(d.join("ca.pem"), pem).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
    }

    /// A signed CAdES document of about `size` bytes.
    pub fn p7m(&self, size: usize, seed: u64) -> Vec<u8> {
        let mut content = format!("Istanza n. {seed}\n").into_bytes();
        let mut x = seed | 1;
        while content.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            content.extend_from_slice(&x.to_le_bytes());
        }
        content.truncate(size.max(16));
        sign_attached(&self.citizen, &content, &opts())
    }

    /// A transport envelope (`X-Trasporto: posta-certificata`) signed by the provider, for
    /// the PEC `ident`, with the citizen's attachments.
    pub fn transport(&self, ident: &str, subject: &str, attachments: &[Attachment]) -> Vec<u8> {
        let atts: Vec<(String, &str, Vec<u8>)> = attachments
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                Attachment::SignedP7m { size } => {
                    (format!("istanza-{i}.pdf.p7m"), "application/pkcs7-mime", self.p7m(*size, hash(ident) + i as u64))
                }
                Attachment::Unsigned => (format!("documento-{i}.pdf"), "application/pdf", b"%PDF-1.4\n% non firmato\n%%EOF\n".to_vec()),
            })
            .collect();
        self.transport_with(ident, subject, &atts, &self.provider)
    }

    /// The same envelope, with raw attachments `(name, media type, bytes)`, signed by `signer`.
    pub fn transport_with(&self, ident: &str, subject: &str, atts: &[(String, &str, Vec<u8>)], signer: &Leaf) -> Vec<u8> {
        let orig = original(ident, subject, atts);
        let dc = daticert("posta-certificata", ident, subject, "        <ricevuta tipo=\"completa\" />\n");
        let content = inner("Messaggio di posta certificata", &dc, Some(&orig));
        signed(&transport_headers("posta-certificata", "POSTA CERTIFICATA", ident, subject), &content, Some(signer))
    }

    /// The envelope signed by a look-alike provider certificate: a forgery.
    pub fn forged(&self, ident: &str, subject: &str) -> Vec<u8> {
        let atts = [(String::from("istanza.pdf.p7m"), "application/pkcs7-mime", self.p7m(512, hash(ident)))];
        self.transport_with(ident, subject, &atts, &self.lookalike)
    }

    /// An anomaly envelope: the sender wrote from an ordinary mailbox.
    pub fn anomaly(&self, ident: &str, subject: &str) -> Vec<u8> {
        let orig = original(ident, subject, &[]);
        let content = inner_without_daticert("Anomalia nel messaggio", &orig);
        signed(&transport_headers("errore", "ANOMALIA MESSAGGIO", ident, subject), &content, Some(&self.provider))
    }

    /// A provider receipt (`X-Ricevuta: tipo`) about the PEC `ident`.
    pub fn receipt(&self, ident: &str, tipo: &str) -> Vec<u8> {
        let extra = "        <consegna>protocollo@pec.comune.test.it</consegna>\n";
        let dc = daticert(tipo, ident, "Risposta del comune", extra);
        let content = inner("Ricevuta", &dc, None);
        let headers = format!(
            "Date: Mon, 12 Jan 2026 10:00:01 +0100\r\nFrom: posta-certificata@pec.test.it\r\n\
             To: protocollo@pec.comune.test.it\r\nSubject: ACCETTAZIONE: Risposta del comune\r\n\
             Message-ID: <{ident}.r.{tipo}>\r\nX-Riferimento-Message-ID: <client-{ident}@mua.test>\r\nX-Ricevuta: {tipo}\r\n"
        );
        signed(&headers, &content, Some(&self.provider))
    }
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn original(ident: &str, subject: &str, atts: &[(String, &str, Vec<u8>)]) -> String {
    let head = format!(
        "Date: Mon, 12 Jan 2026 10:00:00 +0100\r\nFrom: Mario Rossi <mario.rossi@pec.test.it>\r\n\
         To: protocollo@pec.comune.test.it\r\nSubject: {subject}\r\nMessage-ID: <{ident}>\r\n\
         X-Riferimento-Message-ID: <client-{ident}@mua.test>\r\nMIME-Version: 1.0\r\n"
    );
    if atts.is_empty() {
        return format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Buongiorno, chiedo l'accesso agli atti.\r\nMario Rossi\r\n"
        );
    }
    let mut s = format!(
        "{head}Content-Type: multipart/mixed; boundary=\"orig-mixed\"\r\n\r\n\
         --orig-mixed\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBuongiorno, allego l'istanza firmata.\r\n"
    );
    for (name, media, bytes) in atts {
        s.push_str(&format!(
            "--orig-mixed\r\nContent-Type: {media}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}",
            b64(bytes)
        ));
    }
    s.push_str("--orig-mixed--\r\n");
    s
}

fn daticert(tipo: &str, ident: &str, subject: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"{tipo}\" errore=\"nessuno\">\n    <intestazione>\n\
         \x20       <mittente>mario.rossi@pec.test.it</mittente>\n\
         \x20       <destinatari tipo=\"certificato\">protocollo@pec.comune.test.it</destinatari>\n\
         \x20       <risposte>mario.rossi@pec.test.it</risposte>\n\
         \x20       <oggetto>{subject}</oggetto>\n    </intestazione>\n    <dati>\n\
         \x20       <gestore-emittente>TEST PEC S.p.A.</gestore-emittente>\n\
         \x20       <data zona=\"+0100\">\n            <giorno>12/01/2026</giorno>\n            <ora>10:00:00</ora>\n        </data>\n\
         \x20       <identificativo>{ident}</identificativo>\n\
         \x20       <msgid>&lt;client-{ident}@mua.test&gt;</msgid>\n{extra}    </dati>\n</postacert>\n"
    )
}

fn inner(text: &str, daticert: &str, postacert: Option<&str>) -> String {
    let mut s = format!(
        "Content-Type: multipart/mixed; boundary=\"env-mixed\"\r\n\r\n\
         --env-mixed\r\nContent-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Disposition: inline\r\n\r\n{text}\r\n\
         --env-mixed\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\n\
         Content-Disposition: inline; filename=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(daticert.as_bytes())
    );
    if let Some(p) = postacert {
        s.push_str(&format!(
            "--env-mixed\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\n\
             Content-Disposition: inline; filename=\"postacert.eml\"\r\n\r\n{p}\r\n"
        ));
    }
    s.push_str("--env-mixed--\r\n");
    s
}

fn inner_without_daticert(text: &str, postacert: &str) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary=\"env-mixed\"\r\n\r\n\
         --env-mixed\r\nContent-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Disposition: inline\r\n\r\n{text}\r\n\
         --env-mixed\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\n\
         Content-Disposition: inline; filename=\"postacert.eml\"\r\n\r\n{postacert}\r\n--env-mixed--\r\n"
    )
}

fn transport_headers(x_trasporto: &str, prefix: &str, ident: &str, subject: &str) -> String {
    format!(
        "Return-Path: <posta-certificata@pec.test.it>\r\nDate: Mon, 12 Jan 2026 10:00:00 +0100\r\n\
         From: \"Per conto di: mario.rossi@pec.test.it\" <posta-certificata@pec.test.it>\r\n\
         Reply-To: mario.rossi@pec.test.it\r\nTo: protocollo@pec.comune.test.it\r\n\
         Subject: {prefix}: {subject}\r\nMessage-ID: <{ident}>\r\nX-Riferimento-Message-ID: <client-{ident}@mua.test>\r\n\
         X-Trasporto: {x_trasporto}\r\nX-Tiporicevuta: completa\r\n"
    )
}

fn signed(outer_headers: &str, content: &str, signer: Option<&Leaf>) -> Vec<u8> {
    let Some(leaf) = signer else {
        return format!("{outer_headers}MIME-Version: 1.0\r\n{content}").into_bytes();
    };
    // The CRLF before the next delimiter belongs to the delimiter, not to the content.
    let content = content.strip_suffix("\r\n").unwrap_or(content);
    let sig = b64(&sign_detached(leaf, content.as_bytes(), &opts()));
    format!(
        "{outer_headers}MIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; protocol=\"application/x-pkcs7-signature\"; micalg=\"sha-256\"; boundary=\"----SIGBOUNDARY\"\r\n\r\n\
         This is an S/MIME signed message\r\n\r\n------SIGBOUNDARY\r\n{content}\r\n\
         ------SIGBOUNDARY\r\nContent-Type: application/x-pkcs7-signature; name=\"smime.p7s\"\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n{sig}\r\n\
         ------SIGBOUNDARY--\r\n"
    )
    .into_bytes()
}
