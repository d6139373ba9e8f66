//! PEC messages for end-to-end tests, signed with a test PKI made in-process: a provider CA
//! and its signing certificate, a look-alike provider (same names, other keys) for forged
//! envelopes, and a citizen with a qualified-style certificate for signed attachments.
//! The bytes are written by `sigillo_testpki::pec`, the writer `crates/pec/tests/golden.rs`
//! and pec-sim use too.

use std::path::Path;

use chrono::{TimeZone, Utc};
use sigillo_testpki::pec::{self, Daticert, Part, ReceiptHeaders, TransportHeaders};
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

/// What the citizen attached.
pub enum Attachment {
    /// A CAdES `.p7m` of `size` bytes of content, signed by the citizen.
    SignedP7m { size: usize },
    /// A plain PDF-looking file, unsigned.
    Unsigned,
    /// A CAdES `.p7m` signed by a person whose CA is not in the trust directory: the
    /// signature is intact but INDETERMINATE (no certificate chain to a trusted anchor).
    SignedByUnknownCa,
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

    /// The provider's signing certificate (for [`Pki::transport_with`]).
    pub fn provider(&self) -> &Leaf {
        &self.provider
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
                Attachment::SignedByUnknownCa => {
                    let ca = Ca::new_root_with(CaSpec {
                        not_before: Some(t(2025, 1, 1)),
                        not_after: Some(t(2045, 1, 1)),
                        ..CaSpec::new("Untrusted Signatures CA")
                    });
                    let signer = ca.issue(
                        LeafSpec::person("Luigi", "Verdi", "TINIT-VRDLGU80A01H501U").validity(t(2025, 1, 1), t(2040, 1, 1)),
                    );
                    let content = format!("Istanza {ident}, firma non verificabile\n").into_bytes();
                    (format!("istanza-{i}.pdf.p7m"), "application/pkcs7-mime", sign_attached(&signer, &content, &opts()))
                }
            })
            .collect();
        self.transport_with(ident, subject, &atts, &self.provider)
    }

    /// The same envelope, with raw attachments `(name, media type, bytes)`, signed by `signer`.
    pub fn transport_with(&self, ident: &str, subject: &str, atts: &[(String, &str, Vec<u8>)], signer: &Leaf) -> Vec<u8> {
        let orig = original(ident, subject, atts);
        let msgid = format!("<client-{ident}@mua.test>");
        let dc = Daticert { ricevuta: Some("completa"), ..daticert("posta-certificata", ident, subject, &msgid) }.xml();
        let content = inner("Messaggio di posta certificata", Some(&dc), Some(&orig));
        signed(&transport_headers("posta-certificata", "POSTA CERTIFICATA", ident, subject), &content, signer)
    }

    /// The envelope signed by a look-alike provider certificate: a forgery.
    pub fn forged(&self, ident: &str, subject: &str) -> Vec<u8> {
        let atts = [(String::from("istanza.pdf.p7m"), "application/pkcs7-mime", self.p7m(512, hash(ident)))];
        self.transport_with(ident, subject, &atts, &self.lookalike)
    }

    /// An anomaly envelope: the sender wrote from an ordinary mailbox.
    pub fn anomaly(&self, ident: &str, subject: &str) -> Vec<u8> {
        let orig = original(ident, subject, &[]);
        let content = inner("Anomalia nel messaggio", None, Some(&orig));
        signed(&transport_headers("errore", "ANOMALIA MESSAGGIO", ident, subject), &content, &self.provider)
    }

    /// A provider receipt (`X-Ricevuta: tipo`) about the PEC `ident`.
    pub fn receipt(&self, ident: &str, tipo: &str) -> Vec<u8> {
        let msgid = format!("<client-{ident}@mua.test>");
        let dc = Daticert {
            consegna: vec!["protocollo@pec.comune.test.it"],
            ..daticert(tipo, ident, "Risposta del comune", &msgid)
        }
        .xml();
        let content = inner("Ricevuta", Some(&dc), None);
        let headers = ReceiptHeaders {
            date: "Mon, 12 Jan 2026 10:00:01 +0100",
            from: "posta-certificata@pec.test.it",
            to: "protocollo@pec.comune.test.it",
            subject: "ACCETTAZIONE: Risposta del comune",
            message_id: &format!("{ident}.r.{tipo}"),
            riferimento: &msgid,
            x_ricevuta: tipo,
            tipo_ricevuta: None,
        }
        .render();
        signed(&headers, &content, &self.provider)
    }
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn original(ident: &str, subject: &str, atts: &[(String, &str, Vec<u8>)]) -> Vec<u8> {
    let head = format!(
        "Date: Mon, 12 Jan 2026 10:00:00 +0100\r\nFrom: Mario Rossi <mario.rossi@pec.test.it>\r\n\
         To: protocollo@pec.comune.test.it\r\nSubject: {subject}\r\nMessage-ID: <{ident}>\r\n\
         X-Riferimento-Message-ID: <client-{ident}@mua.test>\r\nMIME-Version: 1.0\r\n"
    );
    let body = if atts.is_empty() {
        Part::new(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
            "Buongiorno, chiedo l'accesso agli atti.\r\nMario Rossi\r\n",
        )
    } else {
        let mut parts = vec![Part::new("Content-Type: text/plain; charset=utf-8\r\n", "Buongiorno, allego l'istanza firmata.")];
        parts.extend(atts.iter().map(|(name, media, bytes)| Part::attachment(name, media, bytes)));
        Part::multipart("mixed", "orig-mixed", parts)
    };
    let mut raw = head.into_bytes();
    raw.extend_from_slice(&body.to_bytes());
    raw
}

/// The daticert of the test provider about the PEC `ident`; `msgid` is the original's
/// Message-ID.
fn daticert<'a>(tipo: &'a str, ident: &'a str, subject: &'a str, msgid: &'a str) -> Daticert<'a> {
    Daticert {
        tipo,
        errore: "nessuno",
        mittente: "mario.rossi@pec.test.it",
        destinatari: vec![("certificato", "protocollo@pec.comune.test.it")],
        risposte: "mario.rossi@pec.test.it",
        oggetto: subject,
        gestore: "TEST PEC S.p.A.",
        zona: "+0100",
        giorno: "12/01/2026",
        ora: "10:00:00",
        identificativo: ident,
        msgid,
        ..Daticert::default()
    }
}

/// The signed content: `multipart/mixed` of the text, daticert.xml (when there is one) and
/// postacert.eml (when there is one).
fn inner(text: &str, daticert: Option<&str>, postacert: Option<&[u8]>) -> Vec<u8> {
    let mut parts = vec![Part::new(
        "Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Disposition: inline\r\n",
        text,
    )];
    parts.extend(daticert.map(Part::daticert));
    parts.extend(postacert.map(Part::postacert));
    Part::multipart("mixed", "env-mixed", parts).to_bytes()
}

fn transport_headers(x_trasporto: &str, prefix: &str, ident: &str, subject: &str) -> String {
    let subject = format!("{prefix}: {subject}");
    let riferimento = format!("<client-{ident}@mua.test>");
    TransportHeaders {
        return_path: Some("posta-certificata@pec.test.it"),
        date: "Mon, 12 Jan 2026 10:00:00 +0100",
        sender: "mario.rossi@pec.test.it",
        provider: "posta-certificata@pec.test.it",
        reply_to: "mario.rossi@pec.test.it",
        to: vec!["protocollo@pec.comune.test.it"],
        cc: Vec::new(),
        subject: &subject,
        message_id: ident,
        riferimento: &riferimento,
        x_trasporto,
        tipo_ricevuta: Some("completa"),
    }
    .render()
}

fn signed(outer_headers: &str, content: &[u8], signer: &Leaf) -> Vec<u8> {
    pec::signed(outer_headers, content, "----SIGBOUNDARY", "sha-256", |c| sign_detached(signer, c, &opts()))
}
