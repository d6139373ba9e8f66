//! The register export as a PDF/A-2u document with embedded fonts: the registro giornaliero
//! (or the annual register) in a form an auditor can read, print and keep.
//!
//! The content is the store's [`RegisterExport`], the same one the CSV and JSON exports render,
//! so the three can never disagree. The document carries the SHA-256 of the CSV export of the
//! same period, which ties the printable copy to the data file. The fonts (Titillium Web, OFL,
//! in `fonts/`) are compiled in and subset into the file, so the output does not depend on the
//! fonts of the machine; no clock is read, so one export renders to the same bytes every time.
//!
//! Every character prints: one the embedded font cannot draw (an emoji, Chinese or Arabic
//! text, a control character) is printed as its code point (`[U+1F64F]`), in the PDF only; the
//! stored text and the CSV/JSON exports keep it exact. Without that, one such character in one
//! subject made the day's PDF/A fail for good (krilla refuses a `.notdef` glyph in PDF/A).
//!
//! Kept out of `sigillo_store` on purpose: krilla and its font stack are heavy, and only the
//! dashboard and the command line need them.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::{Document, SerializeSettings};
use sha2::Digest;
use sigillo_store::export::{Format, RegisterExport};
use sigillo_store::register::{Channel, Direction, PaperDelivery};

static REGULAR: &[u8] = include_bytes!("../fonts/TitilliumWeb-Regular.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/TitilliumWeb-Bold.ttf");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the embedded font cannot be read")]
    Font,
    #[error("cannot write the PDF: {0}")]
    Pdf(String),
    #[error(transparent)]
    Export(#[from] sigillo_store::Error),
}

// A4 landscape, in points.
const PAGE_W: f32 = 841.89;
const PAGE_H: f32 = 595.28;
const MARGIN: f32 = 36.0;
const BODY: f32 = 8.0;
const LEADING: f32 = 10.5;

/// The table's columns: heading and width in points (they fill the text width).
const COLUMNS: [(&str, f32); 7] = [
    ("Numero", 60.0),
    ("Data e ora", 78.0),
    ("Verso, canale", 62.0),
    ("Corrispondente", 140.0),
    ("Oggetto", 170.0),
    ("Doc.", 22.0),
    ("SHA-256 del documento principale", 237.89),
];

const MONTHS: [&str; 12] = [
    "gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
    "novembre", "dicembre",
];

/// `22 novembre 2026`.
pub fn long_date_it(d: NaiveDate) -> String {
    let month = MONTHS.get(d.month0() as usize).copied().unwrap_or("");
    format!("{} {month} {}", d.day(), d.year())
}

fn direction_it(d: Direction) -> &'static str {
    match d {
        Direction::Incoming => "Entrata",
        Direction::Outgoing => "Uscita",
        Direction::Internal => "Interna",
    }
}

/// The channel in the register's words (a paper delivery by its kind).
fn channel_it(c: Channel, paper: Option<PaperDelivery>) -> &'static str {
    match (c, paper) {
        (Channel::Pec, _) => "PEC",
        (Channel::Peo, _) => "e-mail",
        (Channel::Carta, Some(PaperDelivery::ConsegnaAMano)) => "a mano",
        (Channel::Carta, Some(PaperDelivery::Posta)) => "posta",
        (Channel::Carta, Some(PaperDelivery::Raccomandata)) => "raccomandata",
        (Channel::Carta, None) => "carta",
        (Channel::Fax, _) => "fax",
        (Channel::Altro, _) => "altro",
    }
}

/// The period of the export in words: `giorno 22 novembre 2026` or `anno 2026`.
fn period_it(period: &str) -> String {
    match NaiveDate::parse_from_str(period, "%Y-%m-%d") {
        Ok(d) => format!("giorno {}", long_date_it(d)),
        Err(_) => format!("anno {period}"),
    }
}

/// The characters both embedded fonts can draw.
fn covered(font: &[u8], c: char) -> bool {
    use skrifa::MetadataProvider as _;
    skrifa::FontRef::new(font).ok().and_then(|f| f.charmap().map(c)).is_some_and(|g| g.to_u32() != 0)
}

/// `text` with every character the embedded fonts cannot draw, and every control character,
/// replaced by a visible `[U+XXXX]`: the PDF shows that something is there and what it is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_control() && covered(REGULAR, c) && covered(BOLD, c) {
            out.push(c);
        } else {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        }
    }
    out
}

/// Renders the export. `tz` is the register's time zone (times are printed in it).
pub fn render(export: &RegisterExport, tz: Tz) -> Result<Vec<u8>, Error> {
    let csv = export.render(Format::Csv)?;
    let csv_sha = hex::encode(sha2::Sha256::digest(&csv));
    let regular = Font::new(krilla::Data::from(REGULAR), 0).ok_or(Error::Font)?;
    let bold = Font::new(krilla::Data::from(BOLD), 0).ok_or(Error::Font)?;

    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_U)
        .finish()
        .map_err(|e| Error::Pdf(format!("{e:?}")))?;
    let settings = SerializeSettings { configuration, ..SerializeSettings::default() };
    let mut doc = Document::new_with(settings);
    let title = format!(
        "Registro di protocollo {} {} {}, {}",
        export.ipa_code,
        export.aoo_code,
        export.register_code,
        period_it(&export.period)
    );
    doc.set_metadata(
        Metadata::new()
            .title(title)
            .language("it-IT".to_owned())
            .creator("Sigillo".to_owned())
            .producer("Sigillo (krilla)".to_owned())
            // Same export, same identifier: the PDF is a function of the data.
            .document_id(csv_sha.clone())
            .creation_date(as_of(export)),
    );

    let mut lines = Layout::new(regular, bold, tz);
    lines.heading(export);
    lines.registrations(export);
    lines.annulments(export);
    lines.totals(export, &csv_sha);
    lines.write(&mut doc);
    doc.finish().map_err(|e| Error::Pdf(format!("{e:?}")))
}

/// The date PDF/A requires in the metadata, taken from the data rather than the clock so that
/// the same export gives the same bytes: the latest registration or annulment of the period,
/// or the start of the period when it has none (in UTC, marked as such).
fn as_of(e: &RegisterExport) -> krilla::metadata::DateTime {
    let latest = e
        .registrations
        .iter()
        .map(|r| r.registered_at)
        .chain(e.annulments.iter().map(|a| a.annulled_at))
        .max();
    let start = || {
        NaiveDate::parse_from_str(&e.period, "%Y-%m-%d")
            .ok()
            .or_else(|| e.period.parse::<i32>().ok().and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1)))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .unwrap_or_default()
    };
    let t = latest.unwrap_or_else(start);
    let small = |v: u32| u8::try_from(v).unwrap_or(0);
    krilla::metadata::DateTime::new(u16::try_from(t.year()).unwrap_or(0))
        .month(small(t.month()))
        .day(small(t.day()))
        .hour(small(t.hour()))
        .minute(small(t.minute()))
        .second(small(t.second()))
        .utc_offset_hour(0)
}

/// One piece of text at a position on a page.
struct Text {
    x: f32,
    y: f32,
    bold: bool,
    size: f32,
    text: String,
}

/// Everything placed on the pages, laid out before any page is written (so the footer can
/// say "pagina 1 di N").
struct Layout {
    regular: Font,
    bold: Font,
    tz: Tz,
    pages: Vec<(Vec<Text>, Vec<f32>)>,
    y: f32,
}

impl Layout {
    fn new(regular: Font, bold: Font, tz: Tz) -> Self {
        Layout { regular, bold, tz, pages: vec![(Vec::new(), Vec::new())], y: MARGIN }
    }

    fn page(&mut self) -> &mut (Vec<Text>, Vec<f32>) {
        if self.pages.is_empty() {
            self.pages.push((Vec::new(), Vec::new()));
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn put(&mut self, x: f32, bold: bool, size: f32, text: impl Into<String>) {
        let y = self.y;
        // Idempotent (the substitutes are ASCII): a safety net for text not wrapped before.
        let text = printable(&text.into());
        self.page().0.push(Text { x, y, bold, size, text });
    }

    fn rule(&mut self) {
        let y = self.y;
        self.page().1.push(y);
    }

    fn new_page(&mut self) {
        self.pages.push((Vec::new(), Vec::new()));
        self.y = MARGIN;
    }

    /// Starts a new page when `height` does not fit; returns whether it did.
    fn ensure(&mut self, height: f32) -> bool {
        if self.y + height > PAGE_H - MARGIN - 2.0 * LEADING {
            self.new_page();
            true
        } else {
            false
        }
    }

    fn heading(&mut self, e: &RegisterExport) {
        self.y += 16.0;
        let kind = if e.period.contains('-') { "giornaliero" } else { "annuale" };
        self.put(MARGIN, true, 16.0, format!("Registro {kind} di protocollo"));
        self.y += 18.0;
        self.put(
            MARGIN,
            false,
            10.0,
            format!(
                "Ente (codice IPA): {}   ·   AOO: {}   ·   Registro: {}   ·   {}",
                e.ipa_code,
                e.aoo_code,
                e.register_code,
                capitalise(&period_it(&e.period))
            ),
        );
        self.y += 24.0;
    }

    fn table_header(&mut self) {
        let mut x = MARGIN;
        for (name, w) in COLUMNS {
            self.put(x, true, BODY, name);
            x += w;
        }
        self.y += 4.0;
        self.rule();
        self.y += LEADING;
    }

    fn registrations(&mut self, e: &RegisterExport) {
        self.put(MARGIN, true, 11.0, "Registrazioni");
        self.y += 16.0;
        if e.registrations.is_empty() {
            self.put(MARGIN, false, BODY + 1.0, "Nessuna registrazione nel periodo.");
            self.y += 2.0 * LEADING;
            return;
        }
        self.table_header();
        for r in &e.registrations {
            let correspondent = if r.correspondents.is_empty() {
                match (&r.correspondent_name, &r.correspondent_address) {
                    (Some(n), Some(a)) => format!("{n} <{a}>"),
                    (Some(n), None) => n.clone(),
                    (None, Some(a)) => a.clone(),
                    (None, None) => String::new(),
                }
            } else {
                r.correspondents.iter().map(|c| c.line()).collect::<Vec<_>>().join("; ")
            };
            let mut subject = r.subject.clone();
            if r.annulled {
                subject.push_str(" [ANNULLATA]");
            }
            let cells: [Vec<String>; 7] = [
                vec![format!("{}/{}", r.number, r.year)],
                vec![datetime_it(r.registered_at, self.tz)],
                vec![direction_it(r.direction).to_owned(), channel_it(r.channel, r.paper_delivery).to_owned()],
                wrap(&printable(&correspondent), COLUMNS[3].1),
                wrap(&printable(&subject), COLUMNS[4].1),
                vec![r.document_hashes.len().to_string()],
                vec![r.document_hashes.first().cloned().unwrap_or_else(|| "—".to_owned())],
            ];
            let rows = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            if self.ensure(rows as f32 * LEADING) {
                self.table_header();
            }
            let top = self.y;
            let mut x = MARGIN;
            for (i, cell) in cells.iter().enumerate() {
                self.y = top;
                let size = if i == 6 { BODY - 1.0 } else { BODY };
                for line in cell {
                    self.put(x, false, size, line.clone());
                    self.y += LEADING;
                }
                x += COLUMNS[i].1;
            }
            self.y = top + rows as f32 * LEADING + 2.0;
        }
        self.y += LEADING;
    }

    fn annulments(&mut self, e: &RegisterExport) {
        self.ensure(4.0 * LEADING);
        self.put(MARGIN, true, 11.0, "Annullamenti eseguiti nel periodo");
        self.y += 16.0;
        if e.annulments.is_empty() {
            self.put(MARGIN, false, BODY + 1.0, "Nessun annullamento nel periodo.");
            self.y += 2.0 * LEADING;
            return;
        }
        for a in &e.annulments {
            let head = format!(
                "n. {}/{} annullata il {} da {}",
                a.number,
                a.year,
                datetime_it(a.annulled_at, self.tz),
                a.annulled_by
            );
            let body = format!("Motivo: {}   ·   Provvedimento: {}", a.reason, a.authorising_act);
            let body = wrap(&printable(&body), PAGE_W - 2.0 * MARGIN - 12.0);
            self.ensure((1 + body.len()) as f32 * LEADING);
            self.put(MARGIN, true, BODY, head);
            self.y += LEADING;
            for line in body {
                self.put(MARGIN + 12.0, false, BODY, line);
                self.y += LEADING;
            }
            self.y += 2.0;
        }
        self.y += LEADING;
    }

    fn totals(&mut self, e: &RegisterExport, csv_sha: &str) {
        self.ensure(6.0 * LEADING);
        self.rule();
        self.y += LEADING + 2.0;
        let range = match (e.first_number, e.last_number) {
            (Some(a), Some(b)) => format!(", dal n. {a} al n. {b}"),
            _ => String::new(),
        };
        let annulled = e.registrations.iter().filter(|r| r.annulled).count();
        self.put(
            MARGIN,
            true,
            BODY + 1.0,
            format!(
                "Totale: {} registrazioni{range} ({} annullate); {} annullamenti eseguiti nel periodo.",
                e.count,
                annulled,
                e.annulments.len()
            ),
        );
        self.y += LEADING + 2.0;
        self.put(MARGIN, false, BODY, format!("Impronta SHA-256 dell'export CSV dello stesso periodo: {csv_sha}"));
        self.y += LEADING;
        self.put(
            MARGIN,
            false,
            BODY,
            "Il file CSV (sigillo register export --format csv) ha la stessa impronta per lo stesso periodo chiuso.",
        );
        self.y += LEADING;
    }

    fn write(self, doc: &mut Document) {
        let total = self.pages.len();
        for (n, (texts, rules)) in self.pages.into_iter().enumerate() {
            let Some(settings) = PageSettings::from_wh(PAGE_W, PAGE_H) else { continue };
            let mut page = doc.start_page_with(settings);
            let mut surface = page.surface();
            surface.set_fill(Some(Fill { paint: rgb::Color::new(25, 25, 25).into(), ..Fill::default() }));
            for t in &texts {
                draw(&mut surface, if t.bold { &self.bold } else { &self.regular }, t.x, t.y, t.size, &t.text);
            }
            draw(
                &mut surface,
                &self.regular,
                MARGIN,
                PAGE_H - MARGIN + 12.0,
                BODY - 1.0,
                &format!("Pagina {} di {total}", n + 1),
            );
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke { paint: rgb::Color::new(120, 120, 120).into(), width: 0.5, ..Stroke::default() }));
            for y in rules {
                let mut pb = PathBuilder::new();
                pb.move_to(MARGIN, y);
                pb.line_to(PAGE_W - MARGIN, y);
                if let Some(path) = pb.finish() {
                    surface.draw_path(&path);
                }
            }
            surface.finish();
            page.finish();
        }
    }
}

fn draw(surface: &mut Surface<'_>, font: &Font, x: f32, y: f32, size: f32, text: &str) {
    if text.is_empty() {
        return;
    }
    surface.draw_text(Point::from_xy(x, y), font.clone(), size, text, false, TextDirection::Auto);
}

fn datetime_it(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d/%m/%Y %H:%M:%S").to_string()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Splits `text` into lines that fit `width` points at the body size. Titillium Web averages
/// under half an em per character; 0.5 em keeps a margin without measuring glyphs. Words
/// longer than a line (addresses, identifiers) are cut.
fn wrap(text: &str, width: f32) -> Vec<String> {
    let max = ((width - 6.0) / (BODY * 0.5)).floor().max(4.0) as usize;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > max {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..max).collect());
        }
        let word: String = word.into_iter().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigillo_store::codes::ProtocolNumber;
    use sigillo_store::export::{ExportedAnnulment, ExportedRegistration};

    fn export() -> RegisterExport {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 22, 9, 30, 0).unwrap();
        let reg = |n: i32, subject: &str, annulled: bool| ExportedRegistration {
            number: ProtocolNumber::parse(n).unwrap(),
            year: 2026,
            segnatura: format!("c_h501|A1B2C3D|PG|2026-11-22|{n:07}"),
            registered_at: at,
            received_at: None,
            direction: Direction::Incoming,
            correspondent_name: Some("Mario Rossi".into()),
            correspondent_address: Some("mario.rossi@pec.example.it".into()),
            subject: subject.into(),
            sender_protocol_number: None,
            sender_protocol_date: None,
            document_hashes: vec!["ab".repeat(32), "cd".repeat(32)],
            annulled,
            flags: Vec::new(),
            channel: Channel::Pec,
            paper_delivery: None,
            paper_attachments: 0,
            correspondents: Vec::new(),
        };
        let mut registrations: Vec<_> = (1..=60).map(|n| reg(n, "Richiesta di accesso agli atti", false)).collect();
        registrations.push(reg(61, &"Oggetto molto lungo che va a capo più volte ".repeat(6), true));
        RegisterExport {
            ipa_code: "c_h501".into(),
            aoo_code: "A1B2C3D".into(),
            register_code: "PG".into(),
            period: "2026-11-22".into(),
            count: registrations.len(),
            first_number: Some(ProtocolNumber::parse(1).unwrap()),
            last_number: Some(ProtocolNumber::parse(61).unwrap()),
            registrations,
            annulments: vec![ExportedAnnulment {
                number: ProtocolNumber::parse(61).unwrap(),
                year: 2026,
                segnatura: "c_h501|A1B2C3D|PG|2026-11-22|0000061".into(),
                annulled_at: at,
                annulled_by: "responsabile".into(),
                reason: "Registrazione doppia".into(),
                authorising_act: "Provv. 7/2026".into(),
            }],
            assignments: Vec::new(),
            classifications: Vec::new(),
        }
    }

    #[test]
    fn renders_a_pdf_a_with_the_font_embedded_and_the_same_bytes_twice() {
        let e = export();
        let pdf = render(&e, chrono_tz::Europe::Rome).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/FontFile2"), "TrueType font program embedded");
        assert!(text.contains("pdfaid:part"), "PDF/A identification in the XMP metadata");
        assert!(text.contains("/OutputIntents"), "PDF/A output intent");
        assert_eq!(pdf, render(&e, chrono_tz::Europe::Rome).unwrap(), "deterministic");
    }

    #[test]
    fn empty_export_renders() {
        let mut e = export();
        e.registrations.clear();
        e.annulments.clear();
        e.count = 0;
        e.first_number = None;
        e.last_number = None;
        assert!(render(&e, chrono_tz::Europe::Rome).unwrap().starts_with(b"%PDF-"));
    }

    /// Emoji, CJK, Arabic, a titlecase digraph, combining marks and control characters in
    /// subjects and names: the PDF/A still renders (it failed with `ContainsNotDefGlyph`).
    #[test]
    fn every_character_renders() {
        let mut e = export();
        let texts = [
            "Grazie 🙏 per la risposta 👍🏽",
            "申请书 关于 建筑许可",
            "طلب ترخيص البناء",
            "ǅ Džemal, combining: e\u{301} a\u{0308}\u{0323} Z\u{0336}",
            "tab\there\nnewline\u{0}nul\u{7}bell\u{200B}zwsp\u{FE0F}\u{202E}rtl",
        ];
        for (r, t) in e.registrations.iter_mut().zip(texts) {
            r.subject = t.to_owned();
            r.correspondent_name = Some(format!("{t} 名前"));
        }
        e.annulments[0].reason = texts.concat();
        let pdf = render(&e, chrono_tz::Europe::Rome).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert_eq!(pdf, render(&e, chrono_tz::Europe::Rome).unwrap(), "deterministic");
        assert_eq!(printable("Grazie 🙏"), "Grazie [U+1F64F]");
        assert_eq!(printable("a\tb"), "a[U+0009]b");
        assert_eq!(printable("Città àèìòù «»€"), "Città àèìòù «»€", "what the font has stays");
    }

    #[test]
    fn wraps_and_cuts() {
        assert_eq!(wrap("", 100.0), vec![String::new()]);
        let lines = wrap(&"parola ".repeat(40), 100.0);
        assert!(lines.len() > 3 && lines.iter().all(|l| l.chars().count() <= 23), "{lines:?}");
        assert_eq!(wrap(&"x".repeat(50), 100.0).len(), 3);
        assert_eq!(long_date_it(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()), "2 novembre 2026");
    }
}
