//! The MIME of PEC messages as providers write them (DM 2/11/2005): the one writer of test
//! PEC fixtures in the workspace, used by the classifier's golden generator
//! (`crates/pec/tests/golden.rs`), the end-to-end tests' messages (`src/pec_mail.rs`) and
//! the local provider (`pec-sim`). Each caller decides the content and who signs; this
//! module only writes the bytes.
//!
//! ```
//! use sigillo_testpki::pec::{Daticert, Part, ReceiptHeaders, signed};
//!
//! let dc = Daticert { tipo: "accettazione", identificativo: "opec1@pec.test.it", ..Daticert::default() };
//! let content = Part::multipart(
//!     "mixed",
//!     "env-mixed",
//!     vec![Part::new("Content-Type: text/plain\r\n", "Ricevuta\r\n"), Part::daticert(&dc.xml())],
//! );
//! let headers = ReceiptHeaders { x_ricevuta: "accettazione", ..ReceiptHeaders::default() }.render();
//! let msg = signed(&headers, &content.to_bytes(), "SIG", "sha-256", |_signed| b"0".to_vec());
//! assert!(msg.starts_with(b"Date: "));
//! ```
//!
//! Every part and entity uses CRLF; the CRLF before a delimiter belongs to the delimiter,
//! so each part keeps its own final line break (`postacert.eml` stays byte for byte what
//! was submitted) and an S/MIME signature covers the content without its last CRLF.

use base64::Engine as _;

/// `data` in base64, lines of 76 characters, each ending in CRLF.
pub fn base64_lines(data: &[u8]) -> String {
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(s.len() + s.len() / 38 + 2);
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

/// Whether `needle` occurs in `hay` (to pick a boundary that does not).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// One MIME entity: its header lines (each ending in CRLF) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub headers: String,
    pub body: Vec<u8>,
}

impl Part {
    pub fn new(headers: impl Into<String>, body: impl Into<Vec<u8>>) -> Part {
        Part { headers: headers.into(), body: body.into() }
    }

    /// `daticert.xml`, inline, in base64.
    pub fn daticert(xml: &str) -> Part {
        Part::new(
            "Content-Type: application/xml; name=\"daticert.xml\"\r\n\
             Content-Disposition: inline; filename=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n",
            base64_lines(xml.as_bytes()),
        )
    }

    /// The original message as `postacert.eml`, unchanged (`7bit`, or `8bit` when it has
    /// bytes above 127).
    pub fn postacert(raw: &[u8]) -> Part {
        let cte = if raw.iter().any(|&b| b >= 0x80) { "8bit" } else { "7bit" };
        Part::new(
            format!(
                "Content-Type: message/rfc822; name=\"postacert.eml\"\r\n\
                 Content-Disposition: inline; filename=\"postacert.eml\"\r\nContent-Transfer-Encoding: {cte}\r\n"
            ),
            raw,
        )
    }

    /// An attachment in base64: `Content-Type: MEDIA; name=…`, `Content-Disposition:
    /// attachment; filename=…`.
    pub fn attachment(name: &str, media: &str, bytes: &[u8]) -> Part {
        Part::new(
            format!(
                "Content-Type: {media}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n"
            ),
            base64_lines(bytes),
        )
    }

    /// `multipart/SUBTYPE` of `parts` with `boundary` (which the caller keeps out of the
    /// parts). Each part is followed by a CRLF that belongs to the next delimiter.
    pub fn multipart(subtype: &str, boundary: &str, parts: Vec<Part>) -> Part {
        let mut body = Vec::new();
        for p in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            body.extend_from_slice(&p.to_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Part::new(format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n"), body)
    }

    /// Headers, the empty line, the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.headers.len() + 2 + self.body.len());
        out.extend_from_slice(self.headers.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// XML text and attribute escaping, as the PEC providers' templates do.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The certification data (`daticert.xml`) of an envelope or receipt. Values are plain
/// text: [`Daticert::xml`] escapes them.
#[derive(Debug, Clone, Default)]
pub struct Daticert<'a> {
    /// `posta-certificata`, `accettazione`, `avvenuta-consegna`, …
    pub tipo: &'a str,
    /// `nessuno`, `no-dest`, `virus`, `altro`, …
    pub errore: &'a str,
    pub mittente: &'a str,
    /// `(tipo, address)`: `tipo` is `certificato` or `esterno`.
    pub destinatari: Vec<(&'a str, &'a str)>,
    pub risposte: &'a str,
    pub oggetto: &'a str,
    pub gestore: &'a str,
    /// `+0100`
    pub zona: &'a str,
    /// `dd/mm/yyyy`
    pub giorno: &'a str,
    /// `hh:mm:ss`
    pub ora: &'a str,
    pub identificativo: &'a str,
    /// The original's Message-ID, with angle brackets.
    pub msgid: &'a str,
    /// `<ricevuta tipo="…" />`: `completa`, `breve`, `sintetica`.
    pub ricevuta: Option<&'a str>,
    pub consegna: Vec<&'a str>,
    pub ricezione: Vec<&'a str>,
    pub errore_esteso: Option<&'a str>,
}

impl Daticert<'_> {
    /// The XML document, ending in a line feed.
    pub fn xml(&self) -> String {
        let e = xml_escape;
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"{}\" errore=\"{}\">\n    <intestazione>\n\
             \x20       <mittente>{}</mittente>\n",
            e(self.tipo),
            e(self.errore),
            e(self.mittente)
        );
        for (tipo, addr) in &self.destinatari {
            s.push_str(&format!("        <destinatari tipo=\"{}\">{}</destinatari>\n", e(tipo), e(addr)));
        }
        s.push_str(&format!(
            "        <risposte>{}</risposte>\n        <oggetto>{}</oggetto>\n    </intestazione>\n    <dati>\n\
             \x20       <gestore-emittente>{}</gestore-emittente>\n\
             \x20       <data zona=\"{}\">\n            <giorno>{}</giorno>\n            <ora>{}</ora>\n        </data>\n\
             \x20       <identificativo>{}</identificativo>\n        <msgid>{}</msgid>\n",
            e(self.risposte),
            e(self.oggetto),
            e(self.gestore),
            e(self.zona),
            e(self.giorno),
            e(self.ora),
            e(self.identificativo),
            e(self.msgid),
        ));
        if let Some(r) = self.ricevuta {
            s.push_str(&format!("        <ricevuta tipo=\"{}\" />\n", e(r)));
        }
        for c in &self.consegna {
            s.push_str(&format!("        <consegna>{}</consegna>\n", e(c)));
        }
        for r in &self.ricezione {
            s.push_str(&format!("        <ricezione>{}</ricezione>\n", e(r)));
        }
        if let Some(x) = self.errore_esteso {
            s.push_str(&format!("        <errore-esteso>{}</errore-esteso>\n", e(x)));
        }
        s.push_str("    </dati>\n</postacert>\n");
        s
    }
}

/// The outer header fields of a transport or anomaly envelope (`X-Trasporto`), up to
/// `MIME-Version` (which [`signed`] and [`unsigned`] write).
#[derive(Debug, Clone, Default)]
pub struct TransportHeaders<'a> {
    /// `Return-Path: <…>`, when set.
    pub return_path: Option<&'a str>,
    pub date: &'a str,
    /// The certified sender: `From: "Per conto di: SENDER" <PROVIDER>`.
    pub sender: &'a str,
    /// `posta-certificata@DOMAIN`.
    pub provider: &'a str,
    pub reply_to: &'a str,
    pub to: Vec<&'a str>,
    pub cc: Vec<&'a str>,
    /// The whole Subject value, prefix included, already encoded if need be.
    pub subject: &'a str,
    /// The provider identifier, without angle brackets.
    pub message_id: &'a str,
    /// The original's Message-ID, with angle brackets.
    pub riferimento: &'a str,
    /// `posta-certificata` or `errore`.
    pub x_trasporto: &'a str,
    /// `X-TipoRicevuta`, when set.
    pub tipo_ricevuta: Option<&'a str>,
}

impl TransportHeaders<'_> {
    pub fn render(&self) -> String {
        let mut h = String::new();
        if let Some(rp) = self.return_path {
            h.push_str(&format!("Return-Path: <{rp}>\r\n"));
        }
        h.push_str(&format!(
            "Date: {}\r\nFrom: \"Per conto di: {}\" <{}>\r\nReply-To: {}\r\n",
            self.date, self.sender, self.provider, self.reply_to
        ));
        if !self.to.is_empty() {
            h.push_str(&format!("To: {}\r\n", self.to.join(",\r\n ")));
        }
        if !self.cc.is_empty() {
            h.push_str(&format!("Cc: {}\r\n", self.cc.join(",\r\n ")));
        }
        h.push_str(&format!(
            "Subject: {}\r\nMessage-ID: <{}>\r\nX-Riferimento-Message-ID: {}\r\nX-Trasporto: {}\r\n",
            self.subject, self.message_id, self.riferimento, self.x_trasporto
        ));
        if let Some(t) = self.tipo_ricevuta {
            h.push_str(&format!("X-TipoRicevuta: {t}\r\n"));
        }
        h
    }
}

/// The outer header fields of a receipt or notice (`X-Ricevuta`), up to `MIME-Version`.
#[derive(Debug, Clone, Default)]
pub struct ReceiptHeaders<'a> {
    pub date: &'a str,
    /// `posta-certificata@DOMAIN`.
    pub from: &'a str,
    pub to: &'a str,
    /// The whole Subject value, prefix included, already encoded if need be.
    pub subject: &'a str,
    /// The receipt's own identifier, without angle brackets.
    pub message_id: &'a str,
    /// The original's Message-ID, with angle brackets.
    pub riferimento: &'a str,
    pub x_ricevuta: &'a str,
    /// `X-TipoRicevuta`, when set.
    pub tipo_ricevuta: Option<&'a str>,
}

impl ReceiptHeaders<'_> {
    pub fn render(&self) -> String {
        let mut h = format!(
            "Date: {}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}>\r\n\
             X-Riferimento-Message-ID: {}\r\nX-Ricevuta: {}\r\n",
            self.date, self.from, self.to, self.subject, self.message_id, self.riferimento, self.x_ricevuta
        );
        if let Some(t) = self.tipo_ricevuta {
            h.push_str(&format!("X-TipoRicevuta: {t}\r\n"));
        }
        h
    }
}

/// `headers`, `MIME-Version` and the S/MIME `multipart/signed` entity over `content` (an
/// entity ending in CRLF, e.g. [`Part::to_bytes`]). `sign` gets the signed bytes (the
/// content without its last CRLF) and returns the DER CMS `SignedData` (detached).
pub fn signed(
    headers: &str,
    content: &[u8],
    boundary: &str,
    micalg: &str,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    // The CRLF before the next delimiter belongs to the delimiter, not to the content.
    let signed_part = content.strip_suffix(b"\r\n").unwrap_or(content);
    let sig = base64_lines(&sign(signed_part));
    let mut out = format!(
        "{headers}MIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; protocol=\"application/x-pkcs7-signature\"; micalg=\"{micalg}\"; boundary=\"{boundary}\"\r\n\r\n\
         This is an S/MIME signed message\r\n\r\n--{boundary}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(signed_part);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/x-pkcs7-signature; name=\"smime.p7s\"\r\n\
             Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n{sig}\r\n\
             --{boundary}--\r\n"
        )
        .as_bytes(),
    );
    out
}

/// The same message without a signature: `headers`, `MIME-Version`, then `content` as the
/// message's own entity.
pub fn unsigned(headers: &str, content: &[u8]) -> Vec<u8> {
    let mut out = format!("{headers}MIME-Version: 1.0\r\n").into_bytes();
    out.extend_from_slice(content);
    out
}

/// A transport envelope (`X-Trasporto: posta-certificata`) certified at `pec_time` (daticert
/// `<data>`, in UTC), from `mario.rossi@pec.test.it` to `protocollo@pec.comune.test.it`,
/// carrying `attachments` (`(name, media type, bytes)`), signed with `sign` (gets the signed
/// bytes, returns the detached DER CMS). For tests of the time certificates are judged at.
pub fn dated_transport(
    ident: &str,
    subject: &str,
    pec_time: chrono::DateTime<chrono::Utc>,
    attachments: &[(&str, &str, Vec<u8>)],
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let date = pec_time.format("%a, %d %b %Y %H:%M:%S +0000").to_string();
    let msgid = format!("<client-{ident}@mua.test>");
    let mut parts = vec![Part::new("Content-Type: text/plain; charset=utf-8\r\n", "Buongiorno, allego l'istanza firmata.")];
    parts.extend(attachments.iter().map(|(name, media, bytes)| Part::attachment(name, media, bytes)));
    let mut original = format!(
        "Date: {date}\r\nFrom: Mario Rossi <mario.rossi@pec.test.it>\r\nTo: protocollo@pec.comune.test.it\r\n\
         Subject: {subject}\r\nMessage-ID: <{ident}>\r\nX-Riferimento-Message-ID: {msgid}\r\nMIME-Version: 1.0\r\n"
    )
    .into_bytes();
    original.extend_from_slice(&Part::multipart("mixed", "orig-mixed", parts).to_bytes());
    let giorno = pec_time.format("%d/%m/%Y").to_string();
    let ora = pec_time.format("%H:%M:%S").to_string();
    let dc = Daticert {
        tipo: "posta-certificata",
        errore: "nessuno",
        mittente: "mario.rossi@pec.test.it",
        destinatari: vec![("certificato", "protocollo@pec.comune.test.it")],
        risposte: "mario.rossi@pec.test.it",
        oggetto: subject,
        gestore: "TEST PEC S.p.A.",
        zona: "+0000",
        giorno: &giorno,
        ora: &ora,
        identificativo: ident,
        msgid: &msgid,
        ricevuta: Some("completa"),
        ..Daticert::default()
    };
    let content = Part::multipart(
        "mixed",
        "env-mixed",
        vec![
            Part::new("Content-Type: text/plain; charset=\"iso-8859-1\"\r\nContent-Disposition: inline\r\n", "Messaggio di posta certificata"),
            Part::daticert(&dc.xml()),
            Part::postacert(&original),
        ],
    );
    let headers = TransportHeaders {
        return_path: Some("posta-certificata@pec.test.it"),
        date: &date,
        sender: "mario.rossi@pec.test.it",
        provider: "posta-certificata@pec.test.it",
        reply_to: "mario.rossi@pec.test.it",
        to: vec!["protocollo@pec.comune.test.it"],
        cc: Vec::new(),
        subject: &format!("POSTA CERTIFICATA: {subject}"),
        message_id: ident,
        riferimento: &msgid,
        x_trasporto: "posta-certificata",
        tipo_ricevuta: Some("completa"),
    }
    .render();
    signed(&headers, &content.to_bytes(), "----SIGBOUNDARY", "sha-256", sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_keeps_each_part_s_final_line_break() {
        let m = Part::multipart("mixed", "b", vec![Part::new("A: 1\r\n", "x\r\n"), Part::postacert(b"S: y\r\n\r\nz\r\n")]);
        let bytes = String::from_utf8(m.to_bytes()).unwrap();
        assert!(bytes.starts_with("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nA: 1\r\n\r\nx\r\n\r\n--b\r\n"));
        assert!(bytes.ends_with("\r\n\r\nS: y\r\n\r\nz\r\n\r\n--b--\r\n"));
    }

    #[test]
    fn the_signature_covers_the_content_without_its_last_line_break() {
        let mut seen = Vec::new();
        let msg = signed("X: 1\r\n", b"C: 1\r\n\r\nbody\r\n", "S", "sha-256", |c| {
            seen = c.to_vec();
            vec![1, 2, 3]
        });
        assert_eq!(seen, b"C: 1\r\n\r\nbody");
        let msg = String::from_utf8(msg).unwrap();
        assert!(msg.contains("\r\n--S\r\nC: 1\r\n\r\nbody\r\n--S\r\n"));
        assert!(msg.ends_with("AQID\r\n\r\n--S--\r\n"));
    }

    #[test]
    fn daticert_escapes_its_values() {
        let xml = Daticert { oggetto: "a & <b>", msgid: "<id@x>", ..Daticert::default() }.xml();
        assert!(xml.contains("<oggetto>a &amp; &lt;b&gt;</oggetto>"));
        assert!(xml.contains("<msgid>&lt;id@x&gt;</msgid>"));
        assert!(xml.ends_with("    </dati>\n</postacert>\n"));
    }
}
