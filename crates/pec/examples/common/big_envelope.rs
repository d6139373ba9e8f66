//! A signed PEC transport envelope of about N MB (one random attachment), shared by the
//! `big_envelope` and `bench_check` examples.

use base64::Engine as _;
use sigillo_testpki::{Ca, LeafSpec, SignOptions, sign_detached};

/// Writes `OUT/envelope-<mb>mb.eml` and the provider CA as `OUT/trust/pec/ca.pem` (with an
/// empty `OUT/trust/signatures/`), and returns the envelope's path.
pub fn write(out: &std::path::Path, mb: usize) -> std::path::PathBuf {
    let ca = Ca::new_root("Bench PEC CA");
    let provider = ca.issue(LeafSpec::pec_provider("Posta Certificata Bench", "posta-certificata@pec.bench.it"));
    std::fs::create_dir_all(out.join("trust/pec")).unwrap();
    std::fs::create_dir_all(out.join("trust/signatures")).unwrap();
    std::fs::write(out.join("trust/pec/ca.pem"), ca.cert_pem()).unwrap();

    // Boundaries as providers write them; OpenSSL's MIME reader does not find a one-letter
    // boundary ("no multipart boundary"), which would make the comparison meaningless.
    // Base64 grows by 4/3: aim the whole envelope at about `mb` MB.
    let mut state = 0x1234_5678_u64;
    let payload: Vec<u8> = (0..mb * 1024 * 1024 * 3 / 4)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let b64 = |d: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(d);
        s.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n").collect::<String>()
    };
    let postacert = format!(
        "From: Mario Rossi <mario.rossi@pec.bench.it>\r\nTo: protocollo@pec.comune.bench.it\r\n\
         Subject: Grande allegato\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"----------=_orig_1762765200\"\r\n\r\n\
         ------------=_orig_1762765200\r\nContent-Type: text/plain\r\n\r\nVedi allegato.\r\n\
         ------------=_orig_1762765200\r\nContent-Type: application/octet-stream; name=\"dati.bin\"\r\n\
         Content-Disposition: attachment; filename=\"dati.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}------------=_orig_1762765200--\r\n",
        b64(&payload)
    );
    let daticert = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"posta-certificata\" errore=\"nessuno\">\
        <intestazione><mittente>mario.rossi@pec.bench.it</mittente><destinatari>protocollo@pec.comune.bench.it</destinatari>\
        <risposte>mario.rossi@pec.bench.it</risposte><oggetto>Grande allegato</oggetto></intestazione>\
        <dati><gestore-emittente>BENCH</gestore-emittente><data zona=\"+0100\"><giorno>10/11/2025</giorno><ora>10:00:00</ora></data>\
        <identificativo>opec.bench@pec.bench.it</identificativo></dati></postacert>\n";
    let content = format!(
        "Content-Type: multipart/mixed; boundary=\"----------=_mixed_1762765200\"\r\n\r\n------------=_mixed_1762765200\r\nContent-Type: text/plain\r\n\r\nMessaggio di posta certificata\r\n\
         ------------=_mixed_1762765200\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
         ------------=_mixed_1762765200\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\n\r\n{postacert}\r\n------------=_mixed_1762765200--",
        b64(daticert.as_bytes())
    );
    let sig = sign_detached(&provider, content.as_bytes(), &SignOptions::default());
    let eml = format!(
        "From: \"Per conto di: mario.rossi@pec.bench.it\" <posta-certificata@pec.bench.it>\r\n\
         To: protocollo@pec.comune.bench.it\r\nSubject: POSTA CERTIFICATA: Grande allegato\r\nX-Trasporto: posta-certificata\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=\"sha-256\"; boundary=\"----------=_signed_1762765200\"\r\n\r\n\
         ------------=_signed_1762765200\r\n{content}\r\n------------=_signed_1762765200\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}------------=_signed_1762765200--\r\n",
        b64(&sig)
    );
    let path = out.join(format!("envelope-{mb}mb.eml"));
    std::fs::write(&path, eml).unwrap();
    path
}
