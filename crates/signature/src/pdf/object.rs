//! A small PDF object parser: enough to read signature dictionaries and compare object
//! revisions. It works on raw file bytes with positions, never trusts the xref table, and
//! bounds its recursion.

use std::ops::Range;

const MAX_DEPTH: usize = 48;

/// Byte positions of a value in the file. Ignored by equality so that the same value saved
/// at another offset compares equal.
#[derive(Debug, Clone, Default)]
pub struct Span(pub Range<usize>);

impl PartialEq for Span {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    Null,
    Bool(bool),
    /// Numbers keep their token text (we only need integers and equality).
    Num(Vec<u8>),
    Name(Vec<u8>),
    /// Literal string, raw bytes between the parentheses.
    Str(Vec<u8>),
    Hex { bytes: Vec<u8>, span: Span },
    Array(Vec<Obj>),
    Dict(Vec<(Vec<u8>, Obj)>),
    Ref(u64, u64),
    Stream { dict: Vec<(Vec<u8>, Obj)>, data: Vec<u8> },
}

impl Obj {
    pub fn dict(&self) -> Option<&[(Vec<u8>, Obj)]> {
        match self {
            Obj::Dict(d) | Obj::Stream { dict: d, .. } => Some(d),
            _ => None,
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.dict()?.iter().find(|(k, _)| k.as_slice() == key).map(|(_, v)| v)
    }

    pub fn name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }

    /// A non-negative integer.
    pub fn uint(&self) -> Option<u64> {
        match self {
            Obj::Num(t) => std::str::from_utf8(t).ok()?.parse::<u64>().ok(),
            _ => None,
        }
    }

    pub fn is_name(&self, key: &[u8], value: &[u8]) -> bool {
        self.get(key).and_then(Obj::name) == Some(value)
    }
}

pub fn is_ws(c: u8) -> bool {
    matches!(c, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delim(c: u8) -> bool {
    matches!(c, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

pub struct Parser<'a> {
    b: &'a [u8],
    pub pos: usize,
    depth: usize,
}

type R<T> = Result<T, String>;

impl<'a> Parser<'a> {
    pub fn new(b: &'a [u8], pos: usize) -> Self {
        Parser { b, pos, depth: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn starts(&self, s: &[u8]) -> bool {
        self.b.get(self.pos..).is_some_and(|r| r.starts_with(s))
    }

    pub fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_ws(c) || is_delim(c) {
                break;
            }
            self.pos += 1;
        }
        self.b.get(start..self.pos).unwrap_or_default()
    }

    pub fn value(&mut self) -> R<Obj> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("PDF object nesting too deep".into());
        }
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> R<Obj> {
        self.skip_ws();
        let c = self.peek().ok_or("unexpected end of PDF object")?;
        match c {
            b'<' if self.starts(b"<<") => {
                self.pos += 2;
                let dict = self.dict_body()?;
                self.maybe_stream(dict)
            }
            b'<' => self.hex(),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(items));
                        }
                        None => return Err("unterminated array".into()),
                        _ => items.push(self.value()?),
                    }
                }
            }
            b'(' => self.literal(),
            b'/' => {
                self.pos += 1;
                Ok(Obj::Name(decode_name(self.token())))
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                let n = self.token().to_vec();
                // `N G R` is a reference.
                let save = self.pos;
                self.skip_ws();
                if let Some(b'0'..=b'9') = self.peek() {
                    let g = self.token().to_vec();
                    self.skip_ws();
                    if self.peek() == Some(b'R') && self.b.get(self.pos + 1).is_none_or(|c| is_ws(*c) || is_delim(*c)) {
                        self.pos += 1;
                        let num = std::str::from_utf8(&n).ok().and_then(|s| s.parse().ok()).ok_or("bad reference")?;
                        let generation = std::str::from_utf8(&g).ok().and_then(|s| s.parse().ok()).ok_or("bad reference")?;
                        return Ok(Obj::Ref(num, generation));
                    }
                }
                self.pos = save;
                Ok(Obj::Num(n))
            }
            _ => match self.token() {
                b"true" => Ok(Obj::Bool(true)),
                b"false" => Ok(Obj::Bool(false)),
                b"null" => Ok(Obj::Null),
                t => Err(format!("unexpected PDF token {:?}", String::from_utf8_lossy(t))),
            },
        }
    }

    fn dict_body(&mut self) -> R<Vec<(Vec<u8>, Obj)>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.starts(b">>") {
                self.pos += 2;
                return Ok(out);
            }
            if self.peek() != Some(b'/') {
                return Err("dictionary key is not a name".into());
            }
            self.pos += 1;
            let key = decode_name(self.token());
            let value = self.value()?;
            out.push((key, value));
        }
    }

    fn maybe_stream(&mut self, dict: Vec<(Vec<u8>, Obj)>) -> R<Obj> {
        let save = self.pos;
        self.skip_ws();
        if !self.starts(b"stream") {
            self.pos = save;
            return Ok(Obj::Dict(dict));
        }
        self.pos += 6;
        if self.starts(b"\r\n") {
            self.pos += 2;
        } else if self.starts(b"\n") || self.starts(b"\r") {
            self.pos += 1;
        }
        let start = self.pos;
        let len = dict.iter().find(|(k, _)| k == b"Length").and_then(|(_, v)| v.uint());
        let by_length = len.and_then(|l| usize::try_from(l).ok()).and_then(|l| start.checked_add(l)).filter(|end| {
            let mut p = Parser::new(self.b, *end);
            p.skip_ws();
            p.starts(b"endstream")
        });
        let end = match by_length {
            Some(e) => e,
            None => find(self.b, b"endstream", start).ok_or("stream without endstream")?,
        };
        let data = self.b.get(start..end).ok_or("stream out of bounds")?.to_vec();
        self.pos = end;
        self.skip_ws();
        if self.starts(b"endstream") {
            self.pos += 9;
        }
        Ok(Obj::Stream { dict, data })
    }

    fn hex(&mut self) -> R<Obj> {
        let start = self.pos;
        self.pos += 1;
        let mut digits = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated hex string")?;
            self.pos += 1;
            match c {
                b'>' => break,
                c if is_ws(c) => {}
                c if c.is_ascii_hexdigit() => digits.push(c),
                _ => return Err("bad character in hex string".into()),
            }
        }
        if digits.len() % 2 == 1 {
            digits.push(b'0');
        }
        let bytes = digits
            .chunks(2)
            .map(|p| {
                let hi = (p[0] as char).to_digit(16).unwrap_or(0);
                let lo = (p[1] as char).to_digit(16).unwrap_or(0);
                (hi * 16 + lo) as u8
            })
            .collect();
        Ok(Obj::Hex { bytes, span: Span(start..self.pos) })
    }

    fn literal(&mut self) -> R<Obj> {
        self.pos += 1;
        let start = self.pos;
        let mut depth = 1usize;
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        Ok(Obj::Str(self.b.get(start..self.pos.saturating_sub(1)).unwrap_or_default().to_vec()))
    }
}

fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'#'
            && let Some(h) = raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// An indirect object definition `num gen obj` found in the file.
#[derive(Debug, Clone)]
pub struct Def {
    pub num: u64,
    pub generation: u64,
    /// Offset of the object number (start of the definition).
    pub start: usize,
    /// Offset just after the `obj` keyword.
    pub body: usize,
}

/// Every `num gen obj` header in the file, in file order.
pub fn definitions(b: &[u8]) -> Vec<Def> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find(b, b"obj", from) {
        from = i + 3;
        if b.get(i + 3).is_some_and(|c| !is_ws(*c) && !is_delim(*c)) {
            continue;
        }
        // Walk back: ws, gen digits, ws, num digits.
        let mut j = i;
        let ws_end = j;
        while j > 0 && b.get(j - 1).is_some_and(|c| is_ws(*c)) {
            j -= 1;
        }
        if j == ws_end {
            continue;
        }
        let gen_end = j;
        while j > 0 && b.get(j - 1).is_some_and(u8::is_ascii_digit) {
            j -= 1;
        }
        if j == gen_end {
            continue;
        }
        let gen_start = j;
        let ws2 = j;
        while j > 0 && b.get(j - 1).is_some_and(|c| is_ws(*c)) {
            j -= 1;
        }
        if j == ws2 {
            continue;
        }
        let num_end = j;
        while j > 0 && b.get(j - 1).is_some_and(u8::is_ascii_digit) {
            j -= 1;
        }
        if j == num_end || (j > 0 && b.get(j - 1).is_some_and(|c| !is_ws(*c) && !is_delim(*c))) {
            continue;
        }
        let parse = |r: Range<usize>| b.get(r).and_then(|t| std::str::from_utf8(t).ok()).and_then(|t| t.parse::<u64>().ok());
        if let (Some(num), Some(generation)) = (parse(j..num_end), parse(gen_start..gen_end)) {
            out.push(Def { num, generation, start: j, body: i + 3 });
        }
    }
    out
}
