//! A small LMTP client (RFC 2033): one message to several mailboxes, one reply per
//! recipient after DATA. Enough for Dovecot's LMTP listener; no pipelining, no TLS.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::Error;

const TIMEOUT: Duration = Duration::from_secs(30);

/// What the LMTP server said about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 5xx: the mailbox refused it for good.
    Refused(String),
    /// 4xx: try again later.
    Deferred(String),
}

struct Conn {
    addr: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Conn {
    fn err(&self, why: impl Into<String>) -> Error {
        Error::Lmtp { addr: self.addr.clone(), why: why.into() }
    }

    /// One reply, multi-line ones joined: (code, text).
    async fn reply(&mut self) -> Result<(u16, String), Error> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut line))
                .await
                .map_err(|_| self.err("nessuna risposta entro il tempo limite"))?
                .map_err(|e| self.err(e.to_string()))?;
            if n == 0 {
                return Err(self.err("connessione chiusa dal server"));
            }
            let line = line.trim_end();
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| self.err(format!("risposta non valida: {line:?}")))?;
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line.get(4..).unwrap_or_default());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, format!("{code} {text}")));
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        tokio::time::timeout(TIMEOUT, self.writer.write_all(bytes))
            .await
            .map_err(|_| self.err("scrittura bloccata"))?
            .map_err(|e| self.err(e.to_string()))
    }

    async fn command(&mut self, line: &str) -> Result<(u16, String), Error> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }
}

/// Delivers `data` (CRLF text) to `recipients` through the LMTP server at `addr`
/// (`host:port`). Returns one outcome per recipient, in order. Errors when the server
/// cannot be reached or breaks the protocol: then nothing was delivered for certain.
pub async fn deliver(addr: &str, mail_from: &str, recipients: &[String], data: &[u8]) -> Result<Vec<Outcome>, Error> {
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Lmtp { addr: addr.to_owned(), why: "connessione: tempo scaduto".to_owned() })?
        .map_err(|e| Error::Lmtp { addr: addr.to_owned(), why: e.to_string() })?;
    // Commands are short writes each waiting for a reply (see smtp.rs on TCP_NODELAY).
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut c = Conn { addr: addr.to_owned(), reader: BufReader::new(r), writer: w };
    let (code, text) = c.reply().await?;
    if code != 220 {
        return Err(c.err(format!("saluto inatteso: {text}")));
    }
    let (code, text) = c.command("LHLO pec-sim").await?;
    if code != 250 {
        return Err(c.err(format!("LHLO rifiutato: {text}")));
    }
    let (code, text) = c.command(&format!("MAIL FROM:<{mail_from}>")).await?;
    if code != 250 {
        return Err(c.err(format!("MAIL FROM rifiutato: {text}")));
    }
    let mut outcomes = Vec::with_capacity(recipients.len());
    let mut accepted = Vec::new();
    for (i, rcpt) in recipients.iter().enumerate() {
        let (code, text) = c.command(&format!("RCPT TO:<{rcpt}>")).await?;
        outcomes.push(match code {
            250 | 251 => {
                accepted.push(i);
                Outcome::Delivered
            }
            400..=499 => Outcome::Deferred(text),
            _ => Outcome::Refused(text),
        });
    }
    if accepted.is_empty() {
        let _ = c.command("QUIT").await;
        return Ok(outcomes);
    }
    let (code, text) = c.command("DATA").await?;
    if code != 354 {
        return Err(c.err(format!("DATA rifiutato: {text}")));
    }
    c.send(&dot_stuff(data)).await?;
    // LMTP: one reply per accepted recipient, in RCPT order.
    for i in accepted {
        let (code, text) = c.reply().await?;
        outcomes[i] = match code {
            250 => Outcome::Delivered,
            400..=499 => Outcome::Deferred(text),
            _ => Outcome::Refused(text),
        };
    }
    let _ = c.command("QUIT").await;
    Ok(outcomes)
}

/// Dot-stuffing (RFC 5321 §4.5.2) and the final `.` line.
pub fn dot_stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(dot_stuff(b".a\r\nb\r\n.\r\n"), b"..a\r\nb\r\n..\r\n.\r\n");
        assert_eq!(dot_stuff(b"x"), b"x\r\n.\r\n");
    }
}
