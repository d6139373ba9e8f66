//! Text typed by staff into forms and query strings, checked in one place. Postgres refuses
//! NUL in text (a search with `%00` used to answer 500) and nothing bounded a note's length
//! (a 900 KB note made a record page millions of pixels wide), so every submitted field
//! passes [`check_field`] in the extractors of [`crate::extract`], and each free-text field a
//! handler keeps is a [`FreeText`] of a [`TextKind`] with its own limit.

use crate::AppError;

/// Above this, a field is refused whatever it is (the longest free text allowed is 2,000
/// characters; passwords and tokens are far shorter).
const ANY_FIELD_MAX: usize = 4_000;

/// What a free-text field is for, which decides its length and whether it may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A search box: one line, 200 characters.
    Search,
    /// A name (office, person, API token): one line, 200 characters.
    Name,
    /// The reference of a document (an authorising act): one line, 500 characters.
    Reference,
    /// A reason or a note: several lines, 2,000 characters.
    Reason,
}

impl TextKind {
    pub fn max_chars(self) -> usize {
        match self {
            TextKind::Search | TextKind::Name => 200,
            TextKind::Reference => 500,
            TextKind::Reason => 2_000,
        }
    }

    fn multiline(self) -> bool {
        self == TextKind::Reason
    }
}

/// Free text that passed its kind's rule: trimmed, no control character (newline and tab only
/// where several lines make sense), not longer than the kind allows. May be empty: whether a
/// field is required is the handler's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeText(String);

impl FreeText {
    /// `field` is the field's Italian name, as the error page shows it.
    pub fn parse(field: &str, kind: TextKind, s: &str) -> Result<Self, AppError> {
        let s = s.trim();
        if let Some(c) = s.chars().find(|&c| is_refused(c, kind.multiline())) {
            return Err(control_error(field, c, kind.multiline()));
        }
        if s.chars().count() > kind.max_chars() {
            return Err(too_long(field, kind.max_chars()));
        }
        Ok(FreeText(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn is_refused(c: char, multiline: bool) -> bool {
    c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))
}

fn control_error(field: &str, c: char, multiline: bool) -> AppError {
    let what = if c == '\0' { "il carattere nullo".to_owned() } else { format!("il carattere di controllo U+{:04X}", c as u32) };
    let allowed = if multiline { " (sono ammessi solo a capo e tabulazioni)" } else { "" };
    AppError::BadRequest(format!("Il campo «{field}» contiene {what}, che non è ammesso{allowed}. Corregga il testo e riprovi."))
}

fn too_long(field: &str, max: usize) -> AppError {
    AppError::BadRequest(format!("Il campo «{field}» è troppo lungo: al massimo {max} caratteri."))
}

/// The Italian name of a form or query field, for error pages.
pub fn field_label(key: &str) -> &str {
    match key {
        "q" => "ricerca",
        "mittente" => "mittente",
        "motivo" => "motivo",
        "atto" => "provvedimento",
        "nota" => "nota",
        "nome" => "nome",
        "codice" => "codice",
        "ufficio" => "ufficio",
        "username" => "nome utente",
        "ruolo" => "ruolo",
        "password" | "current" | "new" | "confirm" => "password",
        "dal" | "from" => "dal",
        "al" | "to" => "al",
        "data" => "data",
        other => other,
    }
}

/// The rule every submitted field passes, whatever the handler does with it: no NUL and no
/// control character other than newline and tab, and a ceiling on length.
pub(crate) fn check_field(key: &str, value: &str) -> Result<(), AppError> {
    if let Some(c) = value.chars().find(|&c| is_refused(c, true)) {
        return Err(control_error(field_label(key), c, true));
    }
    if value.chars().count() > ANY_FIELD_MAX {
        return Err(too_long(field_label(key), ANY_FIELD_MAX));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_nul_and_controls_and_long_text() {
        assert!(FreeText::parse("ricerca", TextKind::Search, "a\0b").is_err());
        assert!(FreeText::parse("ricerca", TextKind::Search, "a\nb").is_err());
        assert!(FreeText::parse("motivo", TextKind::Reason, "riga 1\nriga 2\tfine").is_ok());
        assert!(FreeText::parse("motivo", TextKind::Reason, "a\u{7}b").is_err());
        assert!(FreeText::parse("ricerca", TextKind::Search, &"è".repeat(200)).is_ok());
        assert!(FreeText::parse("ricerca", TextKind::Search, &"è".repeat(201)).is_err());
        assert_eq!(FreeText::parse("nome", TextKind::Name, "  Ufficio  ").unwrap().as_str(), "Ufficio");
        assert!(check_field("q", "x\0").is_err());
        assert!(check_field("motivo", "a\r\nb").is_ok());
    }
}
