//! Message texts: the templates in `src/mail/templates/`, filled in for one message.
//!
//! Each `.txt` file starts with a `Subject:` line and a blank line; its `.html` twin is the
//! HTML part. Placeholders are `{{app_name}}`, `{{code}}`, `{{minutes}}` and `{{registered_at}}`.

use super::Message;

/// One message, ready to send: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn sources(message: &Message) -> (&'static str, &'static str) {
    match message {
        Message::VerificationCode { .. } => (
            include_str!("templates/verification_code.txt"),
            include_str!("templates/verification_code.html"),
        ),
        Message::PasswordResetCode { .. } => (
            include_str!("templates/password_reset_code.txt"),
            include_str!("templates/password_reset_code.html"),
        ),
        Message::RegistrationAttempt => (
            include_str!("templates/registration_attempt.txt"),
            include_str!("templates/registration_attempt.html"),
        ),
        Message::PasswordChanged => (
            include_str!("templates/password_changed.txt"),
            include_str!("templates/password_changed.html"),
        ),
    }
}

/// Fills in the templates of `message` for `app_name`.
pub fn render(message: &Message, app_name: &str) -> Rendered {
    let (text_source, html_source) = sources(message);
    let (code, minutes) = match message {
        Message::VerificationCode {
            code, ttl_minutes, ..
        }
        | Message::PasswordResetCode { code, ttl_minutes } => {
            (code.expose().to_owned(), ttl_minutes.to_string())
        }
        Message::RegistrationAttempt | Message::PasswordChanged => (String::new(), String::new()),
    };
    let registered_at = match message {
        Message::VerificationCode { registered_at, .. } => {
            registered_at.format("%Y-%m-%d at %H:%M UTC").to_string()
        }
        _ => String::new(),
    };
    let fill = |source: &str, app_name: &str| {
        source
            .replace("{{app_name}}", app_name)
            .replace("{{code}}", &code)
            .replace("{{minutes}}", &minutes)
            .replace("{{registered_at}}", &registered_at)
    };
    let text = fill(text_source, app_name);
    let (subject_line, body) = text.split_once("\n\n").unwrap_or(("", text.as_str()));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line)
        .trim()
        .to_owned();
    Rendered {
        subject,
        text: body.to_owned(),
        html: fill(html_source, &escape_html(app_name)),
    }
}

fn escape_html(raw: &str) -> String {
    raw.chars()
        .fold(String::with_capacity(raw.len()), |mut out, c| {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Code;

    fn all() -> Vec<Message> {
        let code = Code::parse("123456").unwrap();
        vec![
            Message::VerificationCode {
                code: code.clone(),
                ttl_minutes: 5,
                registered_at: chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
            },
            Message::PasswordResetCode {
                code,
                ttl_minutes: 10,
            },
            Message::RegistrationAttempt,
            Message::PasswordChanged,
        ]
    }

    #[test]
    fn every_message_has_a_subject_text_and_html_with_the_app_name() {
        for message in all() {
            let r = render(&message, "Acme");
            assert!(r.subject.contains("Acme"), "{r:?}");
            assert!(!r.subject.contains('\n'));
            assert!(r.text.contains("Acme") && r.html.contains("Acme"));
            assert!(!r.text.contains("{{") && !r.html.contains("{{"), "{r:?}");
            assert!(r.text.contains("If it was not you") || r.text.contains("If you did not"));
        }
    }

    #[test]
    fn codes_and_their_lifetime_are_in_both_parts() {
        let r = render(&all()[0], "Acme");
        assert!(r.text.contains("123456") && r.html.contains("123456"));
        assert!(r.text.contains("5 minutes") && r.html.contains("5 minutes"));
        let r = render(&all()[1], "Acme");
        assert!(r.text.contains("10 minutes"));
    }

    #[test]
    fn the_verification_email_says_when_the_registration_was_made() {
        let r = render(&all()[0], "Acme");
        assert!(r.text.contains("on 2026-11-18 at 11:06 UTC"), "{}", r.text);
        assert!(r.html.contains("on 2026-11-18 at 11:06 UTC"));
    }

    #[test]
    fn the_app_name_is_escaped_in_html() {
        let r = render(&Message::PasswordChanged, "<Acme & Co>");
        assert!(r.html.contains("&lt;Acme &amp; Co&gt;"));
        assert!(r.text.contains("<Acme & Co>"));
    }
}
