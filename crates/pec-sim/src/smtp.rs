//! The SMTP listener (RFC 5321 subset + AUTH PLAIN/LOGIN, RFC 4954): EHLO/HELO, AUTH, MAIL,
//! RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT, a size limit. No TLS, no pipelining.
//! Written by hand, not with mailin-embedded: see the README for why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::mail::{clean_address, domain_of};
use crate::provider::Service;

const COMMAND_LINE_MAX: usize = 4096;
const IDLE: Duration = Duration::from_secs(300);
const MAX_RECIPIENTS: usize = 100;
const MAX_ERRORS: u32 = 20;

/// Accepts connections for ever, one task each.
pub async fn serve(listener: TcpListener, service: Arc<Service>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Replies are short writes answered by the client's next command: without
                // TCP_NODELAY each one can wait for the client's delayed ACK (~40 ms a command).
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(stream, peer, service).await {
                        tracing::debug!(%peer, error = %e, "SMTP session ended with an I/O error");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Line {
    Full(Vec<u8>),
    TooLong,
    Eof,
}

/// One line (LF-terminated, terminator kept), at most `limit` bytes; a longer one is
/// consumed and reported as `TooLong` so that the session can go on.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, limit: usize) -> std::io::Result<Line> {
    let mut out = Vec::new();
    let mut too_long = false;
    loop {
        let buf = match tokio::time::timeout(IDLE, r.fill_buf()).await {
            Ok(b) => b?,
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle timeout")),
        };
        if buf.is_empty() {
            return Ok(if out.is_empty() && !too_long { Line::Eof } else if too_long { Line::TooLong } else { Line::Full(out) });
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if out.len() + take > limit {
                too_long = true;
                out = Vec::new();
            } else {
                out.extend_from_slice(&buf[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Full(out) });
        }
    }
}

struct Session {
    peer: SocketAddr,
    service: Arc<Service>,
    helo: bool,
    user: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
}

impl Session {
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }
}

fn param<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| line[prefix.len()..].trim())
}

/// `<addr> PARAMS…` → (addr as written, params).
fn path_and_params(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

async fn session(stream: TcpStream, peer: SocketAddr, service: Arc<Service>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut s = Session { peer, service, helo: false, user: None, mail_from: None, rcpts: Vec::new() };
    tracing::debug!(%peer, "SMTP connection");
    w.write_all(b"220 pec-sim ESMTP servizio PEC di prova\r\n").await?;
    let mut errors = 0u32;
    loop {
        let line = match read_line(&mut r, COMMAND_LINE_MAX).await {
            Ok(Line::Full(l)) => l,
            Ok(Line::TooLong) => {
                w.write_all(b"500 5.5.2 riga di comando troppo lunga\r\n").await?;
                errors += 1;
                continue;
            }
            Ok(Line::Eof) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let _ = w.write_all(b"421 4.4.2 tempo di inattivita' scaduto\r\n").await;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if errors >= MAX_ERRORS {
            w.write_all(b"421 4.7.0 troppi errori, connessione chiusa\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let cmd = text.trim_end_matches(['\r', '\n']);
        let verb = cmd.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" | "HELO" => {
                if cmd.split_whitespace().nth(1).is_none() {
                    errors += 1;
                    "501 5.5.4 manca il nome del client".into()
                } else {
                    s.helo = true;
                    s.reset();
                    if verb == "EHLO" {
                        format!(
                            "250-pec-sim\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN",
                            s.service.max_size
                        )
                    } else {
                        "250 pec-sim".into()
                    }
                }
            }
            "AUTH" => auth(&mut s, cmd, &mut r, &mut w, &mut errors).await?,
            "MAIL" => mail(&mut s, cmd, &mut errors),
            "RCPT" => rcpt(&mut s, cmd, &mut errors),
            "DATA" => {
                if s.mail_from.is_none() || s.rcpts.is_empty() {
                    errors += 1;
                    "503 5.5.1 prima MAIL FROM e almeno un RCPT TO".into()
                } else {
                    w.write_all(b"354 inviare il messaggio, terminare con <CRLF>.<CRLF>\r\n").await?;
                    let reply = data(&mut s, &mut r).await?;
                    s.reset();
                    reply
                }
            }
            "RSET" => {
                s.reset();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "VRFY" => "252 2.5.0 verifica non disponibile".into(),
            "HELP" => "214 2.0.0 comandi: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP QUIT".into(),
            "QUIT" => {
                w.write_all(b"221 2.0.0 arrivederci\r\n").await?;
                return Ok(());
            }
            "STARTTLS" => "502 5.5.1 STARTTLS non disponibile".into(),
            "" => {
                errors += 1;
                "500 5.5.2 comando vuoto".into()
            }
            _ => {
                errors += 1;
                "500 5.5.2 comando non riconosciuto".into()
            }
        };
        w.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()
}

async fn challenge<R: AsyncBufRead + Unpin, W: AsyncWriteExt + Unpin>(
    r: &mut R,
    w: &mut W,
    prompt: &str,
) -> std::io::Result<Option<String>> {
    w.write_all(format!("334 {prompt}\r\n").as_bytes()).await?;
    match read_line(r, COMMAND_LINE_MAX).await? {
        Line::Full(l) => {
            let t = String::from_utf8_lossy(&l).trim().to_owned();
            Ok((t != "*").then_some(t))
        }
        Line::TooLong | Line::Eof => Ok(None),
    }
}

async fn auth<R: AsyncBufRead + Unpin, W: AsyncWriteExt + Unpin>(
    s: &mut Session,
    cmd: &str,
    r: &mut R,
    w: &mut W,
    errors: &mut u32,
) -> std::io::Result<String> {
    if s.user.is_some() {
        *errors += 1;
        return Ok("503 5.5.1 gia' autenticato".into());
    }
    if s.mail_from.is_some() {
        *errors += 1;
        return Ok("503 5.5.1 AUTH non ammesso durante una transazione".into());
    }
    let mut words = cmd.split_whitespace().skip(1);
    let mech = words.next().unwrap_or_default().to_ascii_uppercase();
    let initial = words.next().map(str::to_owned);
    let creds: Option<(String, String)> = match mech.as_str() {
        "PLAIN" => {
            let resp = match initial {
                Some(i) if i != "=" => Some(i),
                Some(_) => Some(String::new()),
                None => challenge(r, w, "").await?,
            };
            let Some(resp) = resp else { return Ok("501 5.7.0 autenticazione annullata".into()) };
            let Some(raw) = decode_b64(&resp) else { return Ok("501 5.5.2 base64 non valido".into()) };
            let mut parts = raw.split(|&b| b == 0);
            let (_authz, authc, pass) = (parts.next(), parts.next(), parts.next());
            match (authc, pass, parts.next()) {
                (Some(u), Some(p), None) => {
                    Some((String::from_utf8_lossy(u).into_owned(), String::from_utf8_lossy(p).into_owned()))
                }
                _ => return Ok("501 5.5.2 risposta PLAIN malformata".into()),
            }
        }
        "LOGIN" => {
            let user = match initial {
                Some(i) => Some(i),
                None => challenge(r, w, "VXNlcm5hbWU6").await?,
            };
            let Some(user) = user.and_then(|u| decode_b64(&u)) else {
                return Ok("501 5.7.0 autenticazione annullata o base64 non valido".into());
            };
            let Some(pass) = challenge(r, w, "UGFzc3dvcmQ6").await?.and_then(|p| decode_b64(&p)) else {
                return Ok("501 5.7.0 autenticazione annullata o base64 non valido".into());
            };
            Some((String::from_utf8_lossy(&user).into_owned(), String::from_utf8_lossy(&pass).into_owned()))
        }
        _ => {
            *errors += 1;
            return Ok("504 5.5.4 meccanismo non supportato (PLAIN, LOGIN)".into());
        }
    };
    let Some((user, pass)) = creds else { return Ok("535 5.7.8 credenziali non valide".into()) };
    match clean_address(&user) {
        Some(u) if s.service.is_local(&u) && pass == s.service.password => {
            tracing::info!(peer = %s.peer, "SMTP authentication succeeded");
            s.user = Some(u);
            Ok("235 2.7.0 autenticazione riuscita".into())
        }
        _ => {
            *errors += 1;
            tracing::info!(peer = %s.peer, "SMTP authentication failed");
            Ok("535 5.7.8 credenziali non valide".into())
        }
    }
}

fn mail(s: &mut Session, cmd: &str, errors: &mut u32) -> String {
    if !s.helo {
        *errors += 1;
        return "503 5.5.1 prima EHLO o HELO".into();
    }
    if s.mail_from.is_some() {
        *errors += 1;
        return "503 5.5.1 transazione gia' aperta (RSET per ricominciare)".into();
    }
    let Some((path, params)) = param(cmd, "MAIL FROM:").and_then(path_and_params) else {
        *errors += 1;
        return "501 5.5.4 sintassi: MAIL FROM:<indirizzo>".into();
    };
    for p in params.split_whitespace() {
        if let Some(n) = param(p, "SIZE=") {
            match n.parse::<usize>() {
                Ok(n) if n > s.service.max_size => return "552 5.3.4 messaggio troppo grande".into(),
                Ok(_) => {}
                Err(_) => return "501 5.5.4 parametro SIZE non valido".into(),
            }
        }
    }
    let from = if path.is_empty() {
        String::new()
    } else {
        match clean_address(path) {
            Some(a) => a,
            None => {
                *errors += 1;
                return "553 5.1.7 indirizzo del mittente non valido".into();
            }
        }
    };
    match &s.user {
        Some(user) if !from.eq_ignore_ascii_case(user) => {
            return "553 5.7.1 il mittente deve essere la casella autenticata".into();
        }
        Some(_) => {}
        None if !from.is_empty() && s.service.is_local(&from) => {
            return "530 5.7.0 autenticazione richiesta per i mittenti dei domini PEC".into();
        }
        None => {}
    }
    s.mail_from = Some(from);
    "250 2.1.0 mittente ok".into()
}

fn rcpt(s: &mut Session, cmd: &str, errors: &mut u32) -> String {
    if s.mail_from.is_none() {
        *errors += 1;
        return "503 5.5.1 prima MAIL FROM".into();
    }
    let Some((path, _)) = param(cmd, "RCPT TO:").and_then(path_and_params) else {
        *errors += 1;
        return "501 5.5.4 sintassi: RCPT TO:<indirizzo>".into();
    };
    let Some(to) = clean_address(path) else {
        *errors += 1;
        return "501 5.1.3 indirizzo del destinatario non valido".into();
    };
    if s.user.is_none() && !s.service.is_local(&to) {
        *errors += 1;
        tracing::info!(peer = %s.peer, domain = domain_of(&to), "relay refused");
        return "550 5.7.1 inoltro non consentito (relay)".into();
    }
    if s.rcpts.len() >= MAX_RECIPIENTS {
        return "452 4.5.3 troppi destinatari".into();
    }
    if !s.rcpts.iter().any(|r| r.eq_ignore_ascii_case(&to)) {
        s.rcpts.push(to);
    }
    "250 2.1.5 destinatario ok".into()
}

/// Reads the message up to `.`, unstuffing dots, then hands it to the provider.
async fn data<R: AsyncBufRead + Unpin>(s: &mut Session, r: &mut R) -> std::io::Result<String> {
    let max = s.service.max_size;
    let mut body = Vec::new();
    let mut too_big = false;
    loop {
        match read_line(r, max + 2).await? {
            Line::Eof => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "EOF in DATA")),
            Line::TooLong => too_big = true,
            Line::Full(l) => {
                if l == b".\r\n" || l == b".\n" {
                    break;
                }
                if too_big {
                    continue;
                }
                let l = if l.starts_with(b".") { &l[1..] } else { &l[..] };
                if body.len() + l.len() > max {
                    too_big = true;
                    body = Vec::new();
                } else {
                    body.extend_from_slice(l);
                }
            }
        }
    }
    if too_big {
        return Ok(format!("552 5.3.4 messaggio oltre il limite di {max} byte"));
    }
    let from = s.mail_from.clone().unwrap_or_default();
    let rcpts = s.rcpts.clone();
    Ok(match &s.user {
        Some(user) => s.service.submit(user, &rcpts, &body).await,
        None => s.service.inbound(&from, &rcpts, &body).await,
    })
}
