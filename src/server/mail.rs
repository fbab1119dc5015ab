//! Mail: one [`Mailer`] for verification and reset links, over SMTP (lettre: plain, STARTTLS
//! or TLS) or into the built-in outbox (a table) when no relay is configured. Mail is queued in
//! the database by the transaction that makes its link and delivered off the request path
//! (see `service::mail`), so a slow or absent relay never slows a request.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

use crate::error::InvalidSetting;

/// How long one SMTP delivery may take before it counts as failed (and is retried).
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where mail goes.
#[derive(Clone, Default)]
pub enum MailTransport {
    /// The built-in outbox: mail is stored, readable on a loopback server at `/api/outbox`.
    #[default]
    Outbox,
    /// `SMTP_URL`: `smtp://host:port`, `smtp+starttls://user:pass@host:587`,
    /// `smtps://user:pass@host:465`. A secret: it may hold a password.
    Smtp(Zeroizing<String>),
}

/// No URL: it may hold a password.
impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MailTransport::Outbox => f.write_str("Outbox"),
            MailTransport::Smtp(_) => f.write_str("Smtp(..)"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// `MAIL_FROM`; `None`: `Tokenflow <no-reply@HOST>` with the issuer's host.
    pub from: Option<String>,
}

/// Sends mail, or knows that mail stays in the outbox.
pub struct Mailer {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// # Errors
    /// An `SMTP_URL` or `MAIL_FROM` that cannot be used, so the server refuses to start.
    pub fn new(settings: &MailSettings, issuer: &str) -> Result<Mailer, InvalidSetting> {
        let from = match &settings.from {
            Some(from) => from.parse::<Mailbox>().map_err(|e| InvalidSetting::new(format!("MAIL_FROM: {e}")))?,
            None => default_from(issuer)?,
        };
        let smtp = match &settings.transport {
            MailTransport::Outbox => None,
            MailTransport::Smtp(url) => Some(smtp_transport(url)?),
        };
        Ok(Mailer { smtp, from })
    }

    /// `true` when mail stays in the built-in outbox.
    pub fn is_outbox(&self) -> bool {
        self.smtp.is_none()
    }

    /// Deliver one mail through the relay.
    ///
    /// # Errors
    /// The relay's refusal or the connection's failure, as text for the queue's `last_error`.
    pub async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        let Some(smtp) = &self.smtp else { return Ok(()) };
        let to = to.parse::<Mailbox>().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text.to_string(), html_of(text)))
            .map_err(|e| format!("composing: {e}"))?;
        smtp.send(message).await.map(drop).map_err(|e| e.to_string())
    }
}

/// `Tokenflow <no-reply@HOST>`; for an IP host (which lettre cannot write as a domain
/// literal), `no-reply@localhost`: set `MAIL_FROM` for real mail.
fn default_from(issuer: &str) -> Result<Mailbox, InvalidSetting> {
    let url = url::Url::parse(issuer).map_err(|e| InvalidSetting::new(format!("AUTH_ISSUER: {e}")))?;
    let domain = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) | None => "localhost".to_string(),
    };
    format!("Tokenflow <no-reply@{domain}>")
        .parse::<Mailbox>()
        .map_err(|e| InvalidSetting::new(format!("no usable sender from AUTH_ISSUER ({e}); set MAIL_FROM")))
}

fn smtp_transport(raw: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, InvalidSetting> {
    // Never echo the URL: it may hold a password.
    let url = url::Url::parse(raw).map_err(|e| InvalidSetting::new(format!("SMTP_URL does not parse: {e}")))?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| InvalidSetting::new("SMTP_URL has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    type Smtp = AsyncSmtpTransport<Tokio1Executor>;
    let tls = |e: lettre::transport::smtp::Error| InvalidSetting::new(format!("SMTP_URL: {e}"));
    let builder = match url.scheme() {
        "smtp" => Smtp::builder_dangerous(host).port(url.port().unwrap_or(25)),
        "smtp+starttls" => Smtp::starttls_relay(host).map_err(tls)?.port(url.port().unwrap_or(587)),
        "smtps" => Smtp::relay(host).map_err(tls)?.port(url.port().unwrap_or(465)),
        _ => return Err(InvalidSetting::new("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")),
    };
    let builder = if url.username().is_empty() {
        builder
    } else {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| InvalidSetting::new("SMTP_URL: credentials are not UTF-8"))
        };
        builder.credentials(Credentials::new(decode(url.username())?, decode(url.password().unwrap_or_default())?))
    };
    Ok(builder.timeout(Some(SMTP_TIMEOUT)).build())
}

/// The HTML part: the text, escaped, with its link made clickable.
fn html_of(text: &str) -> String {
    let mut html = String::from("<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">");
    for paragraph in text.split("\n\n") {
        let escaped = paragraph.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        if escaped.starts_with("http://") || escaped.starts_with("https://") {
            html.push_str(&format!("<p><a href=\"{escaped}\">{escaped}</a></p>"));
        } else {
            html.push_str(&format!("<p>{}</p>", escaped.replace('\n', "<br>")));
        }
    }
    html.push_str("</body></html>");
    html
}

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Verify,
    Reset,
}

/// Subject and text of a mail carrying `link`, valid for `ttl_secs`.
pub fn compose(kind: MailKind, link: &str, ttl_secs: u64) -> (&'static str, String) {
    let lifetime = human_duration(ttl_secs);
    match kind {
        MailKind::Verify => (
            "Confirm your email for Tokenflow",
            format!(
                "Hello,\n\nsomeone (we hope you) signed up for Tokenflow with this address. To prove that the \
                 mailbox is yours, open this link:\n\n{link}\n\nIt works once and expires in {lifetime}. Until \
                 then your access tokens say \"email_verified\": false.\n\nIf you did not sign up, ignore this \
                 mail: nothing happens without the link.\n\n-- Tokenflow\n"
            ),
        ),
        MailKind::Reset => (
            "Reset your Tokenflow password",
            format!(
                "Hello,\n\na new password was asked for the Tokenflow account of this address. To choose one, \
                 open this link:\n\n{link}\n\nIt works once and expires in {lifetime}. Setting a new password \
                 signs you out everywhere: every session and every token issued before is revoked.\n\nIf you \
                 did not ask for this, ignore this mail; your password stays as it is.\n\n-- Tokenflow\n"
            ),
        ),
    }
}

fn human_duration(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 && s >= 86_400 => plural(s / 86_400, "day"),
        s if s % 3600 == 0 && s >= 3600 => plural(s / 3600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_of_each_scheme_are_accepted_and_others_refused() {
        for ok in
            ["smtp://127.0.0.1:2525", "smtp+starttls://u:p%40ss@mail.example.com:587", "smtps://u:p@mail.example.com"]
        {
            assert!(smtp_transport(ok).is_ok(), "{ok}");
        }
        for bad in ["http://mail.example.com", "smtp://", "not a url"] {
            let e = smtp_transport(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.is_empty(), "{bad}");
            assert!(!e.contains("p@ss"), "the error must not echo credentials: {e}");
        }
    }

    #[test]
    fn the_default_sender_is_no_reply_at_the_issuers_host() {
        assert_eq!(default_from("https://auth.example.com").unwrap().email.to_string(), "no-reply@auth.example.com");
        assert_eq!(default_from("http://127.0.0.1:3000").unwrap().email.to_string(), "no-reply@localhost");
    }

    #[test]
    fn mails_carry_their_link_and_lifetime_and_html_escapes() {
        let (subject, text) = compose(MailKind::Reset, "http://x/reset-password?token=abc", 1800);
        assert!(subject.contains("Reset"));
        assert!(text.contains("\n\nhttp://x/reset-password?token=abc\n\n"));
        assert!(text.contains("30 minutes"));
        assert!(html_of("<b>&\n\nhttp://x/?a=1&b=2").contains("<a href=\"http://x/?a=1&amp;b=2\">"));
        assert!(html_of("<b>").contains("&lt;b&gt;"));
    }
}
