//! `pec-sim send`: a citizen's mail client. Builds a MIME message with lettre (attachments
//! optionally signed CAdES-BES with a citizen's key of the PKI) and submits it over SMTP.

use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sigillo_testpki::{SignOptions, sign_attached};

use crate::error::Error;
use crate::mail::clean_address;
use crate::pki::Pki;

/// What to send.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// `host:port`.
    pub smtp: String,
    /// SMTP AUTH user and password; `None` submits without authentication.
    pub auth: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<PathBuf>,
    /// Sign every attachment as `NAME.p7m` with this citizen of the PKI.
    pub sign_with: Option<(PathBuf, Option<String>)>,
}

fn mailbox(addr: &str) -> Result<Mailbox, Error> {
    let clean = clean_address(addr).ok_or_else(|| Error::BadAddress(addr.to_owned()))?;
    clean.parse::<Mailbox>().map_err(|_| Error::BadAddress(addr.to_owned()))
}

/// Builds the message; returns it with its Message-ID (angle brackets included).
pub fn build(opts: &SendOptions) -> Result<(Message, String), Error> {
    let from = mailbox(&opts.from)?;
    let domain = from.email.domain().to_owned();
    let mut id = [0u8; 12];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    let message_id = format!("<{}.pec-sim-send@{domain}>", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut builder = Message::builder().from(from).subject(opts.subject.as_str()).message_id(Some(message_id.clone()));
    if opts.to.is_empty() {
        return Err(Error::Build("nessun destinatario (--to)".to_owned()));
    }
    for to in &opts.to {
        builder = builder.to(mailbox(to)?);
    }
    let signer = match &opts.sign_with {
        Some((dir, name)) => {
            let pki = Pki::load(dir)?;
            let name = match name {
                Some(n) => n.clone(),
                // The sender's own certificate when the sender is one of the PKI's citizens.
                None => {
                    let local = opts.from.split('@').next().unwrap_or_default().to_owned();
                    if pki.meta.citizens.iter().any(|c| c.name == local) {
                        local
                    } else {
                        pki.meta.citizens.first().map(|c| c.name.clone()).ok_or_else(|| Error::UnknownSigner(String::new()))?
                    }
                }
            };
            Some(pki.citizen(&name)?)
        }
        None => None,
    };
    let body = SinglePart::plain(opts.body.clone());
    let message = if opts.attachments.is_empty() {
        builder.singlepart(body)
    } else {
        let mut mixed = MultiPart::mixed().singlepart(body);
        for path in &opts.attachments {
            let content =
                std::fs::read(path).map_err(|source| Error::Attachment { path: path.clone(), source })?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "allegato".to_owned());
            let part = match &signer {
                Some(leaf) => Attachment::new(format!("{name}.p7m"))
                    .body(sign_attached(leaf, &content, &SignOptions::default()), media("application/pkcs7-mime")),
                None => Attachment::new(name.clone()).body(content, guess_media(&name)),
            };
            mixed = mixed.singlepart(part);
        }
        builder.multipart(mixed)
    }
    .map_err(|e| Error::Build(e.to_string()))?;
    Ok((message, message_id))
}

fn media(s: &str) -> ContentType {
    ContentType::parse(s).unwrap_or(ContentType::TEXT_PLAIN)
}

fn guess_media(name: &str) -> ContentType {
    let lower = name.to_ascii_lowercase();
    let m = match lower.rsplit('.').next().unwrap_or_default() {
        "pdf" => "application/pdf",
        "p7m" => "application/pkcs7-mime",
        "p7s" => "application/pkcs7-signature",
        "xml" => "application/xml",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    };
    media(m)
}

/// Builds and submits; returns the Message-ID used.
pub async fn send(opts: &SendOptions) -> Result<String, Error> {
    let (message, message_id) = build(opts)?;
    let (host, port) = opts
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| Error::Connect { addr: opts.smtp.clone(), why: "atteso HOST:PORTA".to_owned() })?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .timeout(Some(std::time::Duration::from_secs(60)));
    if let Some((user, password)) = &opts.auth {
        builder = builder
            .credentials(Credentials::new(user.clone(), password.clone()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let transport = builder.build();
    match transport.send(message).await {
        Ok(_) => Ok(message_id),
        Err(e) => Err(classify(&opts.smtp, &e)),
    }
}

fn classify(addr: &str, e: &lettre::transport::smtp::Error) -> Error {
    let text = one_line(&e.to_string());
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        Some("535" | "534" | "530" | "538") => Error::AuthFailed(text),
        Some(_) => Error::Rejected(text),
        None => {
            // Connection-level failures: name the cause (e.g. "Connection refused").
            let mut cause = text.clone();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                cause = one_line(&s.to_string());
                source = s.source();
            }
            Error::Connect { addr: addr.to_owned(), why: cause }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
