//! Message texts: the templates in `src/mail/templates/`, filled in for one message.
//!
//! Each `.txt` file starts with a `Subject:` line and a blank line; its `.html` twin is the
//! HTML part. Placeholders are `{{app_name}}`, `{{code}}`, `{{minutes}}`, `{{registered_at}}`,
//! `{{new_email}}`, `{{left}}`, `{{ip}}` and `{{device}}`.

use super::Message;

/// One message, ready to send: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The text and HTML templates of `message`, from `src/mail/templates/<name>.{txt,html}`.
macro_rules! templates {
    ($name:literal) => {
        (
            include_str!(concat!("templates/", $name, ".txt")),
            include_str!(concat!("templates/", $name, ".html")),
        )
    };
}

fn sources(message: &Message) -> (&'static str, &'static str) {
    match message {
        Message::VerificationCode { .. } => templates!("verification_code"),
        Message::PasswordResetCode { .. } => templates!("password_reset_code"),
        Message::RegistrationAttempt => templates!("registration_attempt"),
        Message::PasswordChanged => templates!("password_changed"),
        Message::EmailChangeCode { .. } => templates!("email_change_code"),
        Message::EmailChangeAttempt => templates!("email_change_attempt"),
        Message::EmailChangeRequested { .. } => templates!("email_change_requested"),
        Message::EmailChanged { .. } => templates!("email_changed"),
        Message::AccountDeleted => templates!("account_deleted"),
        Message::TotpEnabled => templates!("totp_enabled"),
        Message::TotpDisabled => templates!("totp_disabled"),
        Message::RecoveryCodeUsed { .. } => templates!("recovery_code_used"),
        Message::NewSignIn { .. } => templates!("new_sign_in"),
    }
}

/// Fills in the templates of `message` for `app_name`.
pub fn render(message: &Message, app_name: &str) -> Rendered {
    let (text_source, html_source) = sources(message);
    let code = message.code().map(|c| c.expose()).unwrap_or_default();
    let minutes = message
        .ttl_minutes()
        .map(|m| m.to_string())
        .unwrap_or_default();
    let new_email = message
        .new_email()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let left = match message {
        Message::RecoveryCodeUsed { left } => left.to_string(),
        _ => String::new(),
    };
    let (ip, device) = match message {
        Message::NewSignIn { ip, user_agent } => (
            ip.clone(),
            if user_agent.is_empty() {
                "an unknown browser".to_owned()
            } else {
                user_agent.clone()
            },
        ),
        _ => (String::new(), String::new()),
    };
    let registered_at = match message {
        Message::VerificationCode { registered_at, .. } => {
            registered_at.format("%Y-%m-%d at %H:%M UTC").to_string()
        }
        _ => String::new(),
    };
    // The values a user or client chose are HTML-escaped in the HTML part.
    let fill = |source: &str, escape: fn(&str) -> String| {
        source
            .replace("{{app_name}}", &escape(app_name))
            .replace("{{code}}", code)
            .replace("{{minutes}}", &minutes)
            .replace("{{registered_at}}", &registered_at)
            .replace("{{new_email}}", &escape(&new_email))
            .replace("{{left}}", &left)
            .replace("{{ip}}", &escape(&ip))
            .replace("{{device}}", &escape(&device))
    };
    let text = fill(text_source, str::to_owned);
    let (subject_line, body) = text.split_once("\n\n").unwrap_or(("", text.as_str()));
    let subject = subject_line
        .strip_prefix("Subject: ")
        .unwrap_or(subject_line)
        .trim()
        .to_owned();
    Rendered {
        subject,
        text: body.to_owned(),
        html: fill(html_source, escape_html),
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
            Message::EmailChangeCode {
                code: Code::parse("654321").unwrap(),
                ttl_minutes: 5,
            },
            Message::EmailChangeAttempt,
            Message::EmailChangeRequested {
                new_email: new_email(),
            },
            Message::EmailChanged {
                new_email: new_email(),
            },
            Message::AccountDeleted,
            Message::TotpEnabled,
            Message::TotpDisabled,
            Message::RecoveryCodeUsed { left: 7 },
            Message::NewSignIn {
                ip: "203.0.113.7".into(),
                user_agent: "Mozilla/5.0 <script>".into(),
            },
        ]
    }

    fn new_email() -> crate::domain::UserEmail {
        crate::domain::UserEmail::parse("bob@example.com").unwrap()
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
    fn the_new_sign_in_notice_names_the_address_and_the_browser_escaped() {
        let r = render(all().last().unwrap(), "Acme");
        assert!(r.text.contains("203.0.113.7") && r.text.contains("Mozilla/5.0 <script>"));
        assert!(r.html.contains("Mozilla/5.0 &lt;script&gt;") && !r.html.contains("<script>"));
    }

    #[test]
    fn the_recovery_code_notice_says_how_many_are_left() {
        let r = render(&Message::RecoveryCodeUsed { left: 7 }, "Acme");
        assert!(
            r.text.contains("7 recovery codes left") && r.html.contains("7 recovery codes left")
        );
    }

    #[test]
    fn the_verification_email_says_when_the_registration_was_made() {
        let r = render(&all()[0], "Acme");
        assert!(r.text.contains("on 2026-11-18 at 11:06 UTC"), "{}", r.text);
        assert!(r.html.contains("on 2026-11-18 at 11:06 UTC"));
    }

    #[test]
    fn the_change_of_address_emails_carry_their_code_or_the_new_address() {
        let r = render(&all()[4], "Acme");
        assert!(r.text.contains("654321") && r.html.contains("654321"));
        assert!(r.text.contains("5 minutes"));
        for message in &all()[6..8] {
            let r = render(message, "Acme");
            assert!(r.text.contains("bob@example.com") && r.html.contains("bob@example.com"));
        }
    }

    #[test]
    fn the_app_name_is_escaped_in_html() {
        let r = render(&Message::PasswordChanged, "<Acme & Co>");
        assert!(r.html.contains("&lt;Acme &amp; Co&gt;"));
        assert!(r.text.contains("<Acme & Co>"));
    }
}
