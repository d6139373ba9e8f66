//! What citizens send, served back by the dashboard (issue 15): documents whose type could
//! run script are saved, never rendered from our origin; every download is sandboxed; the
//! CSV meant for spreadsheets neutralises formulas; bidi and control characters are shown.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use sigillo_store::export::{self, Format, Period};
use sigillo_store::staff::Role;
use crate::web_common::spawn_app;

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn web_downloads_never_render_what_could_script() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let cases: [(&str, &str, &[u8], &str, &str); 6] = [
        ("pagina.html", "text/html", b"<script>alert(document.cookie)</script>", "application/octet-stream", "attachment"),
        ("x.js", "application/javascript", b"alert(1)", "application/octet-stream", "attachment"),
        ("logo.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "application/octet-stream", "attachment"),
        ("x.xhtml", "application/xhtml+xml; charset=utf-8", b"<html/>", "application/octet-stream", "attachment"),
        ("istanza.pdf", "application/pdf", b"%PDF-1.7", "application/pdf", "attachment"),
        ("foto.png", "image/png", b"\x89PNG", "image/png", "attachment"),
    ];
    let mut urls = Vec::new();
    for (name, ty, body, _, _) in cases {
        let (id, doc) = app.seed_typed("Istanza", "Mario Rossi", name, ty, body).await;
        urls.push((format!("/registrazioni/{id}/documenti/{doc}"), id));
    }
    let s = app.login("op").await;
    for ((url, _), (name, sent, body, ty, disp)) in urls.iter().zip(cases) {
        let res = app.get(&s, url).await;
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&res, "content-type"), ty, "{name} sent as {sent}");
        let d = header(&res, "content-disposition");
        assert!(d.starts_with(&format!("{disp}; filename=\"{name}\"; filename*=UTF-8''")), "{name}: {d}");
        assert_eq!(header(&res, "content-security-policy"), "sandbox", "{name}");
        assert_eq!(header(&res, "cross-origin-resource-policy"), "same-origin", "{name}");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{name}");
        assert_eq!(res.bytes().await.unwrap().as_ref(), body, "the bytes are the stored bytes");
        println!("{name} ({sent}) served as {ty}, {disp}");
    }

    // A file name cannot add header parameters or pretend to be another file.
    let (id, doc) = app.seed_typed("Istanza", "Mario Rossi", "a\";.html\u{202E}fdp.exe", "text/html", b"x").await;
    let res = app.get(&s, &format!("/registrazioni/{id}/documenti/{doc}")).await;
    let d = header(&res, "content-disposition");
    assert_eq!(d.matches('"').count(), 2, "{d}");
    assert!(d.starts_with("attachment; filename=\"a__.html_fdp.exe\"; filename*=UTF-8''a%22%3B%2Ehtml%E2%80%AEfdp%2Eexe"), "{d}");

    // The register's exports: sandboxed, not embeddable, saved.
    for path in ["/registro.csv", "/registro.csv?formato=archivio", "/registro.json", "/registro.pdf"] {
        let res = app.get(&s, path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, "content-security-policy"), "sandbox", "{path}");
        assert_eq!(header(&res, "cross-origin-resource-policy"), "same-origin", "{path}");
        assert!(header(&res, "content-disposition").starts_with("attachment; "), "{path}");
    }
    // Pages keep the full policy.
    let res = app.get(&s, "/registro").await;
    assert!(header(&res, "content-security-policy").contains("script-src 'self'"));
    println!("{} documents and 4 exports checked", cases.len() + 1);
}

#[tokio::test]
async fn web_spreadsheet_csv_neutralises_formulas_and_keeps_the_archival_csv() {
    let app = spawn_app().await;
    app.add_user("resp", Role::Responsabile).await;
    let (a, _) = app.seed("=HYPERLINK(\"http://evil.example/\",\"Apri\")", "@Mario Rossi", "istanza.pdf", b"uno").await;
    app.seed("Accesso agli atti; \"urgente\" – città", "-Anna Bianchi", "lettera.pdf", b"due").await;
    app.seed("l\u{202E}ognul\u{0007}", "Carla\tVerdi", "tre.pdf", b"tre").await;
    let s = app.login("resp").await;
    let res = app
        .post(&s, &format!("/registrazioni/{a}/annulla"), &[("motivo", "+SUM(1;2)"), ("atto", "=1+1"), ("passo", "conferma")])
        .await;
    assert!(res.status().is_redirection() || res.status().is_success(), "{}", res.status());

    let today = chrono::Utc::now().with_timezone(&app.register.timezone).date_naive();
    let iso = today.format("%Y-%m-%d");
    let res = app.get(&s, &format!("/registro.csv?data={iso}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(res.headers()[CONTENT_DISPOSITION].to_str().unwrap().starts_with(&format!("attachment; filename=\"registro-giornaliero-{iso}.csv\"")));
    let body = res.bytes().await.unwrap();
    assert!(body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM for Excel");
    let text = std::str::from_utf8(&body[3..]).unwrap();
    println!("{text}");
    let mut rows = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.as_bytes());
    let headers: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    for h in ["Numero", "Segnatura", "Mittente", "Oggetto", "Motivo dell'annullamento", "Provvedimento di autorizzazione"] {
        assert!(headers.iter().any(|c| c == h), "no {h:?} column: {headers:?}");
    }
    let cells: Vec<String> = rows.records().flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>()).collect();
    // No cell a spreadsheet would evaluate.
    for c in &cells {
        assert!(!c.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula cell {c:?}");
        assert!(!c.contains('\u{202E}') && !c.contains('\u{0007}') && !c.contains('\t'), "raw control in {c:?}");
    }
    for expected in [
        "'=HYPERLINK(\"http://evil.example/\",\"Apri\")",
        "'@Mario Rossi",
        "'-Anna Bianchi",
        "Accesso agli atti; \"urgente\" – città",
        "l[U+202E]ognul[U+0007]",
        "Carla[U+0009]Verdi",
        "'+SUM(1;2)",
        "'=1+1",
    ] {
        assert!(cells.iter().any(|c| c == expected), "{expected:?} not in {cells:?}");
    }

    // The archival CSV is untouched: byte for byte the register export.
    let res = app.get(&s, &format!("/registro.csv?data={iso}&formato=archivio")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let archival = res.bytes().await.unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    let e = export::collect(&mut conn, &app.register, Period::Day(today)).await.unwrap();
    assert_eq!(archival.as_ref(), e.render(Format::Csv).unwrap().as_slice());
    assert!(std::str::from_utf8(&archival).unwrap().contains("=HYPERLINK("), "the archive keeps the data as sent");
    let res = app.get(&s, &format!("/registro.json?data={iso}")).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), e.render(Format::Json).unwrap().as_slice(), "the JSON stays byte-exact");
    let res = app.get(&s, "/registro.csv?formato=xlsx").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let _ = CONTENT_SECURITY_POLICY;
}

#[tokio::test]
async fn web_bidi_and_control_characters_are_shown_not_obeyed() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let (id, _) = app
        .seed_typed("Contratto l\u{202E}ognul\u{2066}x\u{2069}", "Mario\u{200F} Rossi", "fattura\u{202E}fdp.exe", "application/pdf", b"%PDF")
        .await;
    let s = app.login("op").await;
    for path in [format!("/registrazioni/{id}"), "/registrazioni".to_owned(), "/registro".to_owned(), "/registrazioni?q=Contratto".to_owned()] {
        let html = app.get(&s, &path).await.text().await.unwrap();
        for raw in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200F}'] {
            assert!(!html.contains(raw), "{path} shows U+{:04X} raw", u32::from(raw));
        }
        assert!(html.contains("Contratto l[U+202E]ognul[U+2066]x[U+2069]"), "{path}: {html}");
        if path.starts_with("/registrazioni/") {
            assert!(html.contains("fattura[U+202E]fdp.exe"), "{html}");
            assert!(html.contains("Mario[U+200F] Rossi"), "{html}");
        }
        println!("{path}: bidi controls shown as markers");
    }
}
