//! Conformance: what the library builds is classified right by Sigillo's own checker
//! (`sigillo_pec::Checker`) with the trust directory `pki init` writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::SystemTime;

use chrono::Utc;
use serde_json::Value;
use sigillo_pec::Checker;
use sigillo_pec_sim::mail::{Provider, Receipt, Recipient, Submission};
use sigillo_pec_sim::pki::{self, InitOptions, Pki};
use sigillo_testpki::{SignOptions, sign_attached};

fn checker(trust: &Path) -> Checker {
    let mut c = Checker::new(SystemTime::now());
    for (sub, pec) in [("pec", true), ("signatures", false)] {
        for entry in std::fs::read_dir(trust.join(sub)).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            if pec { c.add_pec_anchors(&bytes).unwrap() } else { c.add_document_anchors(&bytes).unwrap() }
        }
    }
    c
}

fn report(c: &Checker, raw: &[u8]) -> Value {
    let r = c.check_message("msg.eml", raw).unwrap();
    serde_json::to_value(&r).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    pki: Pki,
    provider: Provider,
    checker: Checker,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions { domains: vec!["pec.cittadini.test".into()], force: false, pool_keys: true };
    pki::init(dir.path(), &opts).unwrap();
    let pki = Pki::load(dir.path()).unwrap();
    let provider = Provider { domain: pki.meta.provider_domain.clone(), gestore: pki.meta.gestore.clone(), signer: pki.provider.clone() };
    let checker = checker(&pki.trust_dir());
    Setup { _dir: dir, pki, provider, checker }
}

fn submitted(s: &Setup, signed: bool) -> Vec<u8> {
    let content = b"%PDF-1.4\n% Istanza di accesso agli atti\n%%EOF\n";
    let (name, media, bytes) = if signed {
        let mario = s.pki.citizen("mario.rossi").unwrap();
        ("istanza.pdf.p7m", "application/pkcs7-mime", sign_attached(&mario, content, &SignOptions::default()))
    } else {
        ("istanza.pdf", "application/pdf", content.to_vec())
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    // Bare LF on purpose: the provider must canonicalise before signing.
    format!(
        "From: Mario Rossi <mario.rossi@pec.cittadini.test>\nTo: protocollo@pec.comune.test\n\
         Subject: Richiesta di accesso agli atti – è urgente\nMessage-ID: <abc.123@pec.cittadini.test>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n\
         Buongiorno,\n.riga che inizia con un punto\n--b1\nContent-Type: {media}; name=\"{name}\"\n\
         Content-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{b64}\n--b1--\n"
    )
    .into_bytes()
}

fn recipients() -> Vec<Recipient> {
    vec![Recipient { address: "protocollo@pec.comune.test".into(), certified: true }]
}

#[test]
fn transport_envelope_with_signed_attachment_is_registered() {
    let s = setup();
    let sub = Submission::parse(&submitted(&s, true), "mario.rossi@pec.cittadini.test", "pec.cittadini.test");
    assert_eq!(sub.message_id, "<abc.123@pec.cittadini.test>");
    let ident = s.provider.new_ident(Utc::now());
    let raw = s.provider.transport(&sub, &ident, &recipients(), Utc::now()).unwrap();
    let r = report(&s.checker, &raw);
    assert_eq!(r["pec"]["type"], "posta-certificata", "{r:#}");
    assert_eq!(r["pec"]["envelope_signature"]["status"], "valid", "{r:#}");
    assert_eq!(r["decision"], "register", "{r:#}");
    assert_eq!(r["attachments"][0]["signature"]["verdict"], "TOTAL_PASSED", "{r:#}");
    let d = &r["pec"]["daticert"];
    assert_eq!(d["tipo"], "posta-certificata");
    assert_eq!(d["identificativo"], ident.as_str());
    assert_eq!(d["msgid"], "<abc.123@pec.cittadini.test>");
    assert_eq!(d["mittente"], "mario.rossi@pec.cittadini.test");
    assert_eq!(d["destinatari"][0]["indirizzo"], "protocollo@pec.comune.test");
    assert_eq!(d["oggetto"], "Richiesta di accesso agli atti – è urgente");
    assert_eq!(d["gestore_emittente"], s.pki.meta.gestore.as_str());
    assert!(d.get("warnings").is_none(), "{d:#}");
    assert_eq!(r["pec"]["original"]["subject"], "Richiesta di accesso agli atti – è urgente");
    assert!(r["pec"]["warnings"].as_array().unwrap().is_empty(), "{r:#}");
}

#[test]
fn unsigned_attachment_is_rejected() {
    let s = setup();
    let sub = Submission::parse(&submitted(&s, false), "mario.rossi@pec.cittadini.test", "x");
    let raw = s.provider.transport(&sub, &s.provider.new_ident(Utc::now()), &recipients(), Utc::now()).unwrap();
    let r = report(&s.checker, &raw);
    assert_eq!(r["decision"], "reject", "{r:#}");
    assert_eq!(r["reasons"][0]["code"], "UNSIGNED_ATTACHMENT");
}

#[test]
fn receipts_are_linked_with_their_type() {
    let s = setup();
    let sub = Submission::parse(&submitted(&s, true), "mario.rossi@pec.cittadini.test", "x");
    let ident = s.provider.new_ident(Utc::now());
    let to = "protocollo@pec.comune.test".to_owned();
    for (receipt, tipo) in [
        (Receipt::Accettazione, "accettazione"),
        (Receipt::AvvenutaConsegna { to: to.clone() }, "avvenuta-consegna"),
        (Receipt::ErroreConsegna { to: to.clone(), errore: "no-dest", why: "5.1.1 casella inesistente".into() }, "errore-consegna"),
        (Receipt::NonAccettazione { why: "Bcc".into() }, "non-accettazione"),
    ] {
        let raw = s.provider.receipt(&sub, &ident, &recipients(), &receipt, Utc::now()).unwrap();
        let r = report(&s.checker, &raw);
        assert_eq!(r["pec"]["type"], "ricevuta", "{r:#}");
        assert_eq!(r["pec"]["receipt"], tipo);
        assert_eq!(r["pec"]["envelope_signature"]["status"], "valid", "{r:#}");
        assert_eq!(r["decision"], "link-receipt");
        assert!(r["reasons"].as_array().unwrap().is_empty(), "{r:#}");
        let d = &r["pec"]["daticert"];
        assert_eq!(d["tipo"], tipo);
        assert_eq!(d["identificativo"], ident.as_str());
        assert_eq!(d["msgid"], "<abc.123@pec.cittadini.test>");
        assert!(d.get("warnings").is_none(), "{d:#}");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("X-Riferimento-Message-ID: <abc.123@pec.cittadini.test>\r\n"));
        if tipo.ends_with("consegna") {
            assert_eq!(d["consegna"], to.as_str());
        }
        if tipo == "avvenuta-consegna" {
            assert_eq!(d["ricevuta"], "completa");
            // The complete receipt carries the original and its documents.
            assert_eq!(r["attachments"].as_array().unwrap().len(), 1, "{r:#}");
        }
    }
}

#[test]
fn anomaly_envelope_is_not_pec() {
    let s = setup();
    let plain = b"From: someone@example.org\r\nTo: protocollo@pec.comune.test\r\nSubject: ciao\r\n\r\ntesto\r\n";
    let sub = Submission::parse(plain, "someone@example.org", "pec.comune.test");
    assert!(sub.message_id.ends_with("@pec.comune.test>"), "a Message-ID is added: {}", sub.message_id);
    let raw = s.provider.anomaly(&sub, &s.provider.new_ident(Utc::now()), &recipients(), "non PEC", Utc::now());
    let r = report(&s.checker, &raw);
    assert_eq!(r["pec"]["type"], "anomalia", "{r:#}");
    assert_eq!(r["pec"]["envelope_signature"]["status"], "valid", "{r:#}");
    assert_eq!(r["decision"], "reject");
    assert_eq!(r["reasons"][0]["code"], "NOT_PEC");
}

#[test]
fn init_refuses_to_overwrite_and_keys_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions { domains: vec!["pec.a.test".into()], force: false, pool_keys: true };
    pki::init(dir.path(), &opts).unwrap();
    assert!(matches!(pki::init(dir.path(), &opts), Err(sigillo_pec_sim::Error::PkiExists(_))));
    pki::init(dir.path(), &InitOptions { force: true, ..opts }).unwrap();
    let p = Pki::load(dir.path()).unwrap();
    assert!(p.citizen("giulia.bianchi").is_ok());
    assert!(p.citizen("../provider").is_err());
    assert!(p.citizen("nessuno").is_err());
    let seal = pki::read_leaf(&dir.path().join("comune/seal-cert.pem"), &dir.path().join("comune/seal-key.pem")).unwrap();
    assert_eq!(seal.chain.len(), 1);
}
