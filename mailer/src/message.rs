//! The ticket e-mail: a `multipart/mixed` message holding a `multipart/alternative` (plain
//! text and HTML, in the order's language) and one `application/pdf` attachment per ticket,
//! or, when the PDFs are too large to attach, links to them in both bodies.
//!
//! Everything that ends up in a header (recipient, sender, subject, filenames) is checked
//! here: a line break or other control character is an error, never something to clean up,
//! so no value can start a header of its own. The recipient must be one bare addr-spec.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use std::fmt;
use std::str::FromStr;
use td_domain::Language;

/// The longest address accepted (RFC 5321's 256-octet path, less the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;
/// The longest order id accepted: it goes into the subject.
pub const MAX_ORDER_ID_LEN: usize = 128;
/// The longest attachment filename, `.pdf` included; longer names are shortened.
pub const MAX_FILENAME_CHARS: usize = 100;
/// The longest link accepted in a body.
pub const MAX_LINK_LEN: usize = 2048;
/// What a message takes besides its attachments, at most: headers, both bodies (order id of
/// [`MAX_ORDER_ID_LEN`] included) and MIME boundaries. Used by [`attachments_fit`].
pub const MESSAGE_OVERHEAD_BYTES: usize = 16 * 1024;
/// What one attachment part takes besides its base64 content, at most: its headers with the
/// encoded filename, and its boundary line.
pub const ATTACHMENT_OVERHEAD_BYTES: usize = 640;

/// Why a ticket e-mail could not be built. The messages name the field and the rule it
/// broke, never the value: addresses are personal data and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("invalid recipient address: {0}")]
    Recipient(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the message could not be built: {0}")]
    Build(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> MailError {
    MailError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The sender: an address and an optional display name (`Billettsalg <billett@example.org>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    pub address: String,
    pub name: Option<String>,
}

/// One PDF ticket to attach.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Shown to the reader; made safe by [`sanitize_filename`] when the message is built.
    pub filename: String,
    pub pdf: Vec<u8>,
}

impl Attachment {
    /// A ticket named `billett-<order>-<number>.pdf` (`ticket-…` in English), with every
    /// character of the order id that is not a letter, digit, `.`, `-` or `_` replaced by `_`.
    pub fn ticket(language: Language, order_id: &str, number: usize, pdf: Vec<u8>) -> Self {
        let stem = match language {
            Language::Nob | Language::Nno => "billett",
            Language::Eng => "ticket",
        };
        let order: String = order_id.chars().map(filename_char).collect();
        Self {
            filename: format!("{stem}-{order}-{number}.pdf"),
            pdf,
        }
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("pdf_bytes", &self.pdf.len())
            .finish()
    }
}

/// One e-mail with an order's tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketMail {
    pub from: MailFrom,
    /// One bare addr-spec (`ola@example.org`), see [`parse_recipient`].
    pub to: String,
    pub language: Language,
    pub order_id: String,
    /// Attached when `links` is empty.
    pub attachments: Vec<Attachment>,
    /// When not empty, the bodies list these (http or https) links and nothing is attached.
    pub links: Vec<String>,
    /// Left-hand side of the Message-ID: the send's id, so that a mail delivered twice (a
    /// crash between the server's acceptance and its record) carries one Message-ID and
    /// mail readers show it once.
    pub message_id: uuid::Uuid,
    /// Right-hand side of the Message-ID, `<uuid@domain>`.
    pub message_id_domain: String,
}

/// Parses a recipient: one RFC 5322 addr-spec and nothing else — no display name, no angle
/// brackets, no list, no line break or control character, at most [`MAX_ADDRESS_LEN`]
/// bytes. An internationalised domain is accepted and returned in its ASCII (punycode)
/// form when the local part is ASCII, so the mail needs no SMTPUTF8 on the way.
pub fn parse_recipient(s: &str) -> Result<Address, MailError> {
    let reject = |reason: &str| Err(MailError::Recipient(reason.to_owned()));
    if s.is_empty() {
        return reject("empty");
    }
    if s.len() > MAX_ADDRESS_LEN {
        return reject("longer than 254 bytes");
    }
    if s.chars().any(is_forbidden_in_header) {
        return reject("contains a line break or control character");
    }
    if s.trim() != s {
        return reject("has leading or trailing whitespace");
    }
    let address =
        Address::from_str(s).map_err(|e| MailError::Recipient(format!("not an addr-spec: {e}")))?;
    // lettre's parser already refuses display names, brackets and lists (they make the local
    // part or the domain invalid); check the shape once more without relying on that.
    let (user, domain) = (address.user(), address.domain());
    if !user.starts_with('"') && user.chars().any(|c| "<>,;:()[]\\ \"".contains(c)) {
        return reject("not a single bare address");
    }
    if domain.chars().any(|c| "<>,;:()\\ \"@".contains(c)) {
        return reject("not a single bare address");
    }
    if user.is_ascii() && !domain.is_ascii() {
        let ascii = ascii_domain(domain)?;
        return Address::new(user, ascii)
            .map_err(|e| MailError::Recipient(format!("not an addr-spec: {e}")));
    }
    Ok(address)
}

/// The A-label (punycode) form of an internationalised domain.
fn ascii_domain(domain: &str) -> Result<String, MailError> {
    idna::domain_to_ascii(domain)
        .ok()
        .filter(|d| !d.is_empty() && d.is_ascii())
        .ok_or_else(|| MailError::Recipient("domain has no ASCII form".into()))
}

/// Makes a filename safe for `Content-Disposition` and for saving: a line break or control
/// character is an error; path separators, quotes and every other character that is not a
/// letter, digit, `.`, `-`, `_` or `+` become `_`; leading dots go; the name is shortened to
/// [`MAX_FILENAME_CHARS`] and ends in `.pdf`.
pub fn sanitize_filename(name: &str) -> Result<String, MailError> {
    if name.chars().any(is_forbidden_in_header) {
        return Err(invalid(
            "attachment filename",
            "contains a line break or control character",
        ));
    }
    let cleaned: String = name.chars().map(filename_char).collect();
    let stem = match cleaned.len().checked_sub(4) {
        Some(i) if cleaned.is_char_boundary(i) && cleaned[i..].eq_ignore_ascii_case(".pdf") => {
            &cleaned[..i]
        }
        _ => &cleaned,
    };
    let stem = stem.trim_start_matches(['.', '_']).trim_end_matches('.');
    if stem.chars().all(|c| c == '_') {
        return Err(invalid("attachment filename", "empty"));
    }
    let stem: String = stem.chars().take(MAX_FILENAME_CHARS - 4).collect();
    Ok(format!("{stem}.pdf"))
}

fn filename_char(c: char) -> char {
    if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
        c
    } else {
        '_'
    }
}

/// Line breaks of any kind and other control characters: never allowed in a header value.
fn is_forbidden_in_header(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

fn check_header_value(field: &'static str, value: &str, max_len: usize) -> Result<(), MailError> {
    if value.chars().any(is_forbidden_in_header) {
        return Err(invalid(field, "contains a line break or control character"));
    }
    if value.trim().is_empty() {
        return Err(invalid(field, "empty"));
    }
    if value.chars().count() > max_len {
        return Err(invalid(field, format!("longer than {max_len} characters")));
    }
    Ok(())
}

fn check_link(link: &str) -> Result<(), MailError> {
    if link.len() > MAX_LINK_LEN {
        return Err(invalid("link", format!("longer than {MAX_LINK_LEN} bytes")));
    }
    if !(link.starts_with("https://") || link.starts_with("http://")) {
        return Err(invalid("link", "not an http or https URL"));
    }
    if !link.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "link",
            "contains whitespace, control or non-ASCII characters (percent-encode them)",
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), MailError> {
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "message id domain",
            "not a domain of ASCII letters, digits, `-` and `.`",
        ))
    }
}

/// `&`, `<`, `>`, `"` and `'` as character references, for text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The words of a ticket e-mail in one language.
struct Texts {
    html_lang: &'static str,
    greeting: &'static str,
    subject: fn(&str) -> String,
    attached: fn(&str) -> String,
    linked: fn(&str) -> String,
    travel: &'static str,
    footer: &'static str,
}

fn texts(language: Language) -> Texts {
    match language {
        Language::Nob => Texts {
            html_lang: "nb",
            greeting: "Hei!",
            subject: |order| format!("Billettene dine for ordre {order}"),
            attached: |order| {
                format!("Her er billettene dine for ordre {order}. De ligger vedlagt som PDF.")
            },
            linked: |order| {
                format!("Her er billettene dine for ordre {order}. Last dem ned fra lenkene under:")
            },
            travel: "Ha billetten klar når du reiser.",
            footer: "Denne e-posten er sendt automatisk og kan ikke besvares.",
        },
        Language::Nno => {
            Texts {
                html_lang: "nn",
                greeting: "Hei!",
                subject: |order| format!("Billettane dine for ordre {order}"),
                attached: |order| {
                    format!("Her er billettane dine for ordre {order}. Dei ligg ved som PDF.")
                },
                linked: |order| {
                    format!("Her er billettane dine for ordre {order}. Last dei ned frå lenkjene under:")
                },
                travel: "Ha billetten klar når du reiser.",
                footer: "Denne e-posten er send automatisk, og du kan ikkje svare på han.",
            }
        }
        Language::Eng => Texts {
            html_lang: "en",
            greeting: "Hello,",
            subject: |order| format!("Your tickets for order {order}"),
            attached: |order| {
                format!("Here are your tickets for order {order}. They are attached as PDF files.")
            },
            linked: |order| {
                format!(
                    "Here are your tickets for order {order}. Download them from the links below:"
                )
            },
            travel: "Please have your ticket ready when you travel.",
            footer: "This e-mail was sent automatically; replies are not read.",
        },
    }
}

/// The subject line of a ticket e-mail.
pub fn subject(language: Language, order_id: &str) -> String {
    (texts(language).subject)(order_id)
}

fn plain_body(t: &Texts, order_id: &str, links: &[String]) -> String {
    let mut out = format!("{}\n\n", t.greeting);
    if links.is_empty() {
        out.push_str(&(t.attached)(order_id));
        out.push_str("\n\n");
    } else {
        out.push_str(&(t.linked)(order_id));
        out.push_str("\n\n");
        for link in links {
            out.push_str(link);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(t.travel);
    out.push_str("\n\n-- \n");
    out.push_str(t.footer);
    out.push('\n');
    out
}

fn html_body(t: &Texts, subject: &str, order_id: &str, links: &[String]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n<body>\n<p>{}</p>\n",
        t.html_lang,
        escape_html(subject),
        escape_html(t.greeting),
    );
    if links.is_empty() {
        out.push_str(&format!(
            "<p>{}</p>\n",
            escape_html(&(t.attached)(order_id))
        ));
    } else {
        out.push_str(&format!(
            "<p>{}</p>\n<ul>\n",
            escape_html(&(t.linked)(order_id))
        ));
        for link in links {
            let link = escape_html(link);
            out.push_str(&format!("<li><a href=\"{link}\">{link}</a></li>\n"));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(&format!(
        "<p>{}</p>\n<p><small>{}</small></p>\n</body>\n</html>\n",
        escape_html(t.travel),
        escape_html(t.footer)
    ));
    out
}

/// Builds the ticket e-mail, checking every value first (see the module documentation).
/// With `links`, the bodies list them and the attachments are left out; without, there must
/// be at least one attachment, and each must be a PDF.
pub fn build_message(mail: &TicketMail) -> Result<Message, MailError> {
    let to = parse_recipient(&mail.to)?;
    check_header_value("sender address", &mail.from.address, MAX_ADDRESS_LEN)?;
    let from_address = Address::from_str(&mail.from.address)
        .map_err(|e| invalid("sender address", format!("not an addr-spec: {e}")))?;
    if let Some(name) = &mail.from.name {
        check_header_value("sender name", name, 200)?;
    }
    check_header_value("order id", &mail.order_id, MAX_ORDER_ID_LEN)?;
    check_domain(&mail.message_id_domain)?;
    for link in &mail.links {
        check_link(link)?;
    }
    let attachments = if mail.links.is_empty() {
        if mail.attachments.is_empty() {
            return Err(invalid(
                "attachments",
                "no tickets: neither attachments nor links",
            ));
        }
        mail.attachments
            .iter()
            .map(|a| {
                if !a.pdf.starts_with(b"%PDF-") {
                    return Err(invalid("attachment", "not a PDF"));
                }
                Ok((sanitize_filename(&a.filename)?, a.pdf.as_slice()))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };

    let t = texts(mail.language);
    let subject = (t.subject)(&mail.order_id);
    let plain = plain_body(&t, &mail.order_id, &mail.links);
    let html = html_body(&t, &subject, &mail.order_id, &mail.links);
    let pdf = ContentType::parse("application/pdf").map_err(|e| MailError::Build(e.to_string()))?;

    let mut mixed = MultiPart::mixed().multipart(
        MultiPart::alternative()
            .singlepart(SinglePart::plain(plain))
            .singlepart(SinglePart::html(html)),
    );
    for (filename, bytes) in attachments {
        // Always base64: lettre would send an all-ASCII PDF as 7bit, bare LFs and all, which
        // servers may refuse and readers may rewrite.
        let body = Body::new_with_encoding(bytes.to_vec(), ContentTransferEncoding::Base64)
            .map_err(|_| MailError::Build("base64 refused".into()))?;
        mixed =
            mixed.singlepart(lettre::message::Attachment::new(filename).body(body, pdf.clone()));
    }

    Message::builder()
        .from(Mailbox::new(mail.from.name.clone(), from_address))
        .to(Mailbox::new(None, to))
        .subject(subject)
        .message_id(Some(format!(
            "<{}@{}>",
            mail.message_id, mail.message_id_domain
        )))
        .date_now()
        .multipart(mixed)
        .map_err(|e| MailError::Build(e.to_string()))
}

/// Bytes of base64 for `n` bytes of content, with a CRLF after every 76 characters.
pub fn base64_len(n: usize) -> usize {
    let chars = n.div_ceil(3) * 4;
    chars + chars.div_ceil(76) * 2
}

/// At most how many bytes these attachments add to a message: their base64 content and
/// [`ATTACHMENT_OVERHEAD_BYTES`] each.
pub fn attachments_encoded_size(attachments: &[Attachment]) -> usize {
    attachments
        .iter()
        .map(|a| base64_len(a.pdf.len()) + ATTACHMENT_OVERHEAD_BYTES)
        .sum()
}

/// Whether a ticket e-mail carrying these attachments stays within `limit` bytes as sent,
/// headers and bodies included (an upper bound: when this says yes, it fits). The caller
/// sends links instead when it does not.
pub fn attachments_fit(attachments: &[Attachment], limit: usize) -> bool {
    MESSAGE_OVERHEAD_BYTES + attachments_encoded_size(attachments) <= limit
}

/// The size of a built message as it goes over the wire (before SMTP dot-stuffing).
pub fn message_size(message: &Message) -> usize {
    message.formatted().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(language: Language) -> TicketMail {
        TicketMail {
            from: MailFrom {
                address: "billett@example.org".into(),
                name: Some("Billettsalg".into()),
            },
            to: "ola.nordmann@example.no".into(),
            language,
            order_id: "ORD-42".into(),
            attachments: vec![Attachment::ticket(language, "ORD-42", 1, pdf(10))],
            links: vec![],
            message_id: uuid::Uuid::new_v4(),
            message_id_domain: "tickets.example.org".into(),
        }
    }

    fn pdf(n: usize) -> Vec<u8> {
        let mut v = b"%PDF-1.7\n".to_vec();
        v.extend((0..n).map(|i| (i * 7 % 256) as u8));
        v
    }

    fn parsed(message: &Message) -> mail_parser::Message<'static> {
        mail_parser::MessageParser::default()
            .parse(&message.formatted())
            .expect("parses")
            .into_owned()
    }

    #[test]
    fn recipients_that_are_one_bare_address_are_accepted() {
        for s in [
            "ola@example.no",
            "ola.nordmann+billett@example.no",
            "o'brien@example.co.uk",
            "x@sub.domain.example",
            "\"ola nordmann\"@example.no",
        ] {
            let a = parse_recipient(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn internationalised_domains_become_ascii() {
        let a = parse_recipient("ola@bøler.no").expect("IDN domain");
        assert_eq!(a.to_string(), "ola@xn--bler-gra.no");
        assert_eq!(parse_recipient("ola@xn--bler-gra.no").unwrap(), a);
    }

    #[test]
    fn recipients_other_than_one_bare_address_are_rejected() {
        let long = format!("{}@example.no", "a".repeat(250));
        for s in [
            "",
            " ",
            "ola",
            "@example.no",
            "ola@",
            " ola@example.no",
            "ola@example.no ",
            "\"Ola\" <ola@example.no>",
            "Ola <ola@example.no>",
            "<ola@example.no>",
            "ola@example.no, kari@example.no",
            "ola@example.no,kari@example.no",
            "ola@example.no;kari@example.no",
            "ola@example.no kari@example.no",
            "ola@example.no\r\nBcc: kari@example.no",
            "ola@example.no\nBcc: kari@example.no",
            "ola@example.no\r",
            "ola@example.no\0",
            "ola@example.no\tx",
            "ola@example.no\u{2028}Bcc: kari@example.no",
            "=?utf-8?q?Ola=0D=0ABcc:_kari@example.no?= <ola@example.no>",
            "ola@example.no (Ola)",
            "ola@[127.0.0.1]>",
            &long,
        ] {
            assert!(
                matches!(parse_recipient(s), Err(MailError::Recipient(_))),
                "accepted {s:?}"
            );
        }
    }

    #[test]
    fn recipient_errors_do_not_echo_the_address() {
        let err = parse_recipient("secret.person@@example.no").unwrap_err();
        assert!(!err.to_string().contains("secret.person"), "{err}");
    }

    #[test]
    fn filenames_are_made_safe() {
        let ok = [
            ("billett-ORD-1-1.pdf", "billett-ORD-1-1.pdf"),
            ("billett", "billett.pdf"),
            ("Billett.PDF", "Billett.pdf"),
            ("../../etc/passwd", "etc_passwd.pdf"),
            ("C:\\tmp\\x.pdf", "C__tmp_x.pdf"),
            ("a\"b'c;d=e.pdf", "a_b_c_d_e.pdf"),
            ("reise til Bodø.pdf", "reise_til_Bodø.pdf"),
            (".hidden.pdf", "hidden.pdf"),
        ];
        for (input, want) in ok {
            assert_eq!(sanitize_filename(input).as_deref(), Ok(want), "{input}");
        }
        let long = sanitize_filename(&"x".repeat(500)).unwrap();
        assert_eq!(long.chars().count(), MAX_FILENAME_CHARS);
        assert!(long.ends_with(".pdf"));
        for bad in [
            "a\r\nb.pdf",
            "a\nb.pdf",
            "a\rb.pdf",
            "a\0.pdf",
            "",
            ".pdf",
            "///",
            "\"\"",
        ] {
            assert!(sanitize_filename(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn ticket_filenames_are_readable_and_safe() {
        let a = Attachment::ticket(Language::Nob, "ORD/7\"x", 2, vec![]);
        assert_eq!(a.filename, "billett-ORD_7_x-2.pdf");
        let a = Attachment::ticket(Language::Eng, "ORD-7", 1, vec![]);
        assert_eq!(a.filename, "ticket-ORD-7-1.pdf");
    }

    #[test]
    fn subjects_are_localised() {
        assert_eq!(subject(Language::Nob, "X1"), "Billettene dine for ordre X1");
        assert_eq!(subject(Language::Nno, "X1"), "Billettane dine for ordre X1");
        assert_eq!(subject(Language::Eng, "X1"), "Your tickets for order X1");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let mut m = mail(Language::Eng);
        m.order_id = "<b>&\"evil\"</b>".into();
        m.links = vec!["https://example.org/t?a=1&b=<2>".into()];
        let msg = build_message(&m).unwrap();
        let p = parsed(&msg);
        let html = p.body_html(0).unwrap();
        assert!(
            html.contains("order &lt;b&gt;&amp;&quot;evil&quot;&lt;/b&gt;."),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="https://example.org/t?a=1&amp;b=&lt;2&gt;">"#),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        assert_eq!(p.subject(), Some("Your tickets for order <b>&\"evil\"</b>"));
    }

    #[test]
    fn header_values_with_line_breaks_are_rejected() {
        let base = mail(Language::Nob);
        let mut cases: Vec<TicketMail> = Vec::new();
        for bad in [
            "A\r\nBcc: x@example.com",
            "A\nB",
            "A\rB",
            "A\0",
            "A\u{2028}B",
        ] {
            let mut m = base.clone();
            m.order_id = bad.into();
            cases.push(m);
            let mut m = base.clone();
            m.from.name = Some(bad.into());
            cases.push(m);
            let mut m = base.clone();
            m.attachments[0].filename = format!("{bad}.pdf");
            cases.push(m);
            let mut m = base.clone();
            m.to = format!("ola@example.no{bad}");
            cases.push(m);
            let mut m = base.clone();
            m.from.address = format!("billett@example.org{bad}");
            cases.push(m);
            let mut m = base.clone();
            m.message_id_domain = format!("example.org{bad}");
            cases.push(m);
            let mut m = base.clone();
            m.links = vec![format!("https://example.org/{bad}")];
            cases.push(m);
        }
        for m in cases {
            assert!(build_message(&m).is_err(), "built {m:?}");
        }
    }

    #[test]
    fn other_bad_input_is_rejected() {
        let base = mail(Language::Nob);
        let mut m = base.clone();
        m.attachments.clear();
        assert!(build_message(&m).is_err(), "no tickets at all");
        let mut m = base.clone();
        m.attachments[0].pdf = b"<html>".to_vec();
        assert!(build_message(&m).is_err(), "not a PDF");
        let mut m = base.clone();
        m.links = vec!["javascript:alert(1)".into()];
        assert!(build_message(&m).is_err(), "not http");
        let mut m = base.clone();
        m.order_id = "x".repeat(MAX_ORDER_ID_LEN + 1);
        assert!(build_message(&m).is_err(), "long order id");
        let mut m = base;
        m.message_id_domain = "a..b".into();
        assert!(build_message(&m).is_err(), "bad domain");
    }

    #[test]
    fn the_message_has_one_recipient_and_the_expected_structure() {
        let mut m = mail(Language::Nno);
        // All ASCII with bare LFs: still base64, bytes intact.
        let ascii_pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n".to_vec();
        m.attachments[0].pdf = ascii_pdf.clone();
        let msg = build_message(&m).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        let headers = &raw[..raw.find("\r\n\r\n").unwrap()];
        assert!(
            headers.contains("\r\nTo: ola.nordmann@example.no\r\n"),
            "{headers}"
        );
        assert!(headers.contains("multipart/mixed"), "{headers}");
        assert!(!headers.to_ascii_lowercase().contains("\nbcc:"));
        assert!(!headers.to_ascii_lowercase().contains("\ncc:"));
        let p = parsed(&msg);
        assert_eq!(p.to().unwrap().iter().count(), 1);
        assert_eq!(p.subject(), Some("Billettane dine for ordre ORD-42"));
        assert_eq!(p.attachment_count(), 1);
        assert_eq!(p.attachment(0).unwrap().contents(), ascii_pdf.as_slice());
        assert!(
            raw.contains("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"),
            "{raw}"
        );
        let id = p.message_id().unwrap();
        assert!(id.ends_with("@tickets.example.org"), "{id}");
        assert!(
            uuid::Uuid::parse_str(id.split('@').next().unwrap()).is_ok(),
            "{id}"
        );
        assert!(p.date().is_some());
        let envelope = msg.envelope();
        assert_eq!(envelope.to().len(), 1);
        assert_eq!(envelope.from().unwrap().to_string(), "billett@example.org");
    }

    #[test]
    fn links_replace_attachments() {
        let mut m = mail(Language::Nob);
        m.links = vec![
            "https://example.org/billett/1".into(),
            "https://example.org/billett/2".into(),
        ];
        let p = parsed(&build_message(&m).unwrap());
        assert_eq!(p.attachment_count(), 0);
        let text = p.body_text(0).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.contains(
                &"Her er billettene dine for ordre ORD-42. Last dem ned fra lenkene under:"
            ),
            "{text}"
        );
        assert!(lines.contains(&"https://example.org/billett/1"), "{text}");
        assert!(lines.contains(&"https://example.org/billett/2"), "{text}");
        let html = p.body_html(0).unwrap();
        assert!(
            html.contains(r#"<a href="https://example.org/billett/2">"#),
            "{html}"
        );
    }

    #[test]
    fn the_size_estimate_is_an_upper_bound_and_not_far_off() {
        for sizes in [
            vec![0],
            vec![1],
            vec![2, 3],
            vec![100_000],
            vec![700_001, 1, 333_333],
        ] {
            let mut m = mail(Language::Nno);
            m.order_id = "Å".repeat(MAX_ORDER_ID_LEN);
            m.from.name = Some("Ø".repeat(200));
            m.attachments = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| Attachment {
                    filename: format!("{}-{i}.pdf", "æ".repeat(120)),
                    pdf: pdf(*n),
                })
                .collect();
            let actual = message_size(&build_message(&m).unwrap());
            let estimate = MESSAGE_OVERHEAD_BYTES + attachments_encoded_size(&m.attachments);
            assert!(actual <= estimate, "{sizes:?}: {actual} > {estimate}");
            assert!(
                estimate - actual < MESSAGE_OVERHEAD_BYTES,
                "{sizes:?}: {actual} vs {estimate}"
            );
            assert!(attachments_fit(
                &m.attachments,
                actual + MESSAGE_OVERHEAD_BYTES * 2
            ));
            assert!(!attachments_fit(&m.attachments, actual - 1));
        }
    }

    #[test]
    fn base64_length() {
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4 + 2);
        assert_eq!(base64_len(57), 76 + 2);
        assert_eq!(base64_len(58), 80 + 4);
    }
}
