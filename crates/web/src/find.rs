//! What a clerk types in a search box when looking for one registration: a protocol number
//! (`12345`, `0012345`), a number and year (`12345/2026`), or a segnatura as printed on a
//! document (`c_h501|A1B2C3D|PG|2026-12-06|0012345`).

/// A search text that names one registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberQuery {
    pub number: i32,
    /// `None`: the most recent year that has this number.
    pub year: Option<i32>,
    /// The segnatura typed, its fields trimmed, when the text was one.
    pub segnatura: Option<String>,
}

impl NumberQuery {
    /// `None` when the text is not a number, a number with year or a segnatura: it is then
    /// searched as text.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.contains('|') {
            let fields: Vec<&str> = text.split('|').map(str::trim).collect();
            let [_, _, _, date, number] = fields.as_slice() else { return None };
            let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
            use chrono::Datelike;
            return Some(NumberQuery { number: number_of(number)?, year: Some(date.year()), segnatura: Some(fields.join("|")) });
        }
        match text.split_once('/') {
            None => Some(NumberQuery { number: number_of(text)?, year: None, segnatura: None }),
            Some((n, y)) => {
                let y = y.trim();
                let year = (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())).then(|| y.parse().ok()).flatten()?;
                Some(NumberQuery { number: number_of(n.trim())?, year: Some(year), segnatura: None })
            }
        }
    }

    /// How the page names it: `12345/2026`, `12345`, or the segnatura.
    pub fn label(&self) -> String {
        match (&self.segnatura, self.year) {
            (Some(s), _) => s.clone(),
            (None, Some(y)) => format!("{}/{y}", self.number),
            (None, None) => self.number.to_string(),
        }
    }
}

/// Digits only (leading zeros allowed, as a segnatura pads them), a positive `i32`.
fn number_of(s: &str) -> Option<i32> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(number: i32, year: Option<i32>) -> Option<NumberQuery> {
        Some(NumberQuery { number, year, segnatura: None })
    }

    #[test]
    fn numbers_years_and_segnature_are_recognised() {
        assert_eq!(NumberQuery::parse(" 12345 "), q(12345, None));
        assert_eq!(NumberQuery::parse("0000012"), q(12, None));
        assert_eq!(NumberQuery::parse("12345/2026"), q(12345, Some(2026)));
        assert_eq!(NumberQuery::parse("12345 / 2026"), q(12345, Some(2026)));
        let s = NumberQuery::parse("c_h501 | A1B2C3D|PG|2026-12-06|0000012").unwrap();
        assert_eq!((s.number, s.year), (12, Some(2026)));
        assert_eq!(s.segnatura.as_deref(), Some("c_h501|A1B2C3D|PG|2026-12-06|0000012"));
    }

    #[test]
    fn anything_else_is_text() {
        for t in ["", "0", "-5", "12a", "permesso 12", "12/26", "12/2026/1", "99999999999", "a|b|c|d|1", "a|b|c|2026-13-01|1", "a|b|2026-01-01|1"] {
            assert_eq!(NumberQuery::parse(t), None, "{t}");
        }
    }
}
