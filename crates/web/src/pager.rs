//! Numbered pages under a list: "Pagina 2 di 7 — 312 registrazioni", links to the first,
//! the last and the pages around the current one. Rendered by its own template, so a page
//! shows it with `{{ pager|safe }}`.

use askama::Template;

use crate::format::int_it;

/// Counting stops here: a word found in a thousand registrations, an inbox with a thousand
/// lines, says "più di 1.000" (twenty pages; the clerk narrows the search). Counting on to
/// 10,000 cost 95 ms of Postgres per search of a frequent phrase on a million registrations,
/// more than the page's own SQL several times over (docs/benchmarks.md).
pub const COUNT_CAP: i64 = 1_000;

/// One link of the pager.
pub struct PageLink {
    pub number: i64,
    pub href: String,
    pub current: bool,
    /// Pages were skipped before this one (shown as "…").
    pub gap_before: bool,
}

#[derive(Template)]
#[template(path = "pager.html")]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    /// "312 registrazioni", "più di 10.000 messaggi".
    pub total: String,
    pub links: Vec<PageLink>,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// The element htmx replaces with the linked page (`#risultati`), if any.
    pub htmx_target: Option<&'static str>,
}

/// The page number of a `pagina` parameter: 1 when blank; anything but a positive number
/// is refused.
pub fn parse_page(value: Option<&str>) -> Result<i64, crate::AppError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(1),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| crate::AppError::BadRequest(format!("pagina: «{v}» non è un numero di pagina"))),
    }
}

impl Pager {
    /// "312 registrazioni, pagina 2 di 7." for above a list.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let mut chars = self.total.chars();
        if let Some(first) = chars.next() {
            s.extend(first.to_uppercase());
            s.push_str(chars.as_str());
        }
        if self.pages > 1 {
            s.push_str(&format!(", pagina {} di {}", self.page, self.pages));
        }
        s.push('.');
        s
    }

    /// `href(n)` is the address of page `n`; `total` what was counted, `capped` when the
    /// count stopped at its limit (then the last page is not known exactly).
    pub fn new(
        page: i64,
        per_page: i64,
        total: i64,
        capped: bool,
        noun: (&str, &str),
        href: impl Fn(i64) -> String,
        htmx_target: Option<&'static str>,
    ) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        let page = page.clamp(1, pages.max(page));
        let total_text = match (capped, total) {
            (true, n) => format!("più di {} {}", int_it(n - 1), noun.1),
            (false, 1) => format!("1 {}", noun.0),
            (false, n) => format!("{} {}", int_it(n), noun.1),
        };
        let mut wanted: Vec<i64> = vec![1, pages];
        wanted.extend((page - 2)..=(page + 2));
        wanted.retain(|n| (1..=pages).contains(n));
        wanted.sort_unstable();
        wanted.dedup();
        let mut links = Vec::with_capacity(wanted.len());
        let mut last = 0;
        for n in wanted {
            links.push(PageLink { number: n, href: href(n), current: n == page, gap_before: n > last + 1 });
            last = n;
        }
        Pager {
            page,
            pages,
            total: total_text,
            links,
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
            htmx_target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_around_the_current_one_and_both_ends() {
        let p = Pager::new(6, 50, 1000, false, ("riga", "righe"), |n| format!("?pagina={n}"), None);
        let numbers: Vec<i64> = p.links.iter().map(|l| l.number).collect();
        assert_eq!(numbers, [1, 4, 5, 6, 7, 8, 20]);
        assert!(p.links[1].gap_before && p.links[6].gap_before && !p.links[2].gap_before);
        assert_eq!((p.pages, p.total.as_str()), (20, "1.000 righe"));
        assert_eq!(p.prev.as_deref(), Some("?pagina=5"));
        let one = Pager::new(1, 50, 1, false, ("riga", "righe"), |n| n.to_string(), None);
        assert_eq!((one.pages, one.total.as_str(), one.next.is_none()), (1, "1 riga", true));
        let capped = Pager::new(1, 50, 10_001, true, ("riga", "righe"), |n| n.to_string(), None);
        assert_eq!(capped.total, "più di 10.000 righe");
    }

    #[test]
    fn page_numbers_are_checked() {
        assert_eq!(parse_page(None).unwrap(), 1);
        assert_eq!(parse_page(Some(" 3 ")).unwrap(), 3);
        for bad in ["0", "-1", "x", "1e3"] {
            assert!(parse_page(Some(bad)).is_err(), "{bad}");
        }
    }
}
