//! What each message says: short, plain words, a plain-text and an HTML part, and what to
//! do if the reader did not ask for it.

use lettre::Message;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};

use crate::store::outbox::MailKind;

/// One message's words.
struct Words {
    subject: &'static str,
    lines: Vec<String>,
    action: Option<(&'static str, String)>,
    not_you: &'static str,
}

/// The message of `kind` for `username`, with `link` when the kind carries one.
pub(super) fn compose(
    from: &Mailbox,
    to: Mailbox,
    kind: MailKind,
    username: &str,
    link: Option<&str>,
    valid_for: Duration,
) -> Result<Message, lettre::error::Error> {
    let link = link.unwrap_or_default().to_owned();
    let valid = lifetime(valid_for);
    let words = match kind {
        MailKind::VerifyEmail => Words {
            subject: "Confirm your email address for taskql",
            lines: vec![format!(
                "Hello {username}, please confirm that this is your email address. The link works once, for {valid}."
            )],
            action: Some(("Confirm my address", link)),
            not_you: "If you did not sign up for taskql, ignore this message: nothing happens without the link.",
        },
        MailKind::ResetPassword => Words {
            subject: "Reset your taskql password",
            lines: vec![format!(
                "Hello {username}, someone asked to reset your taskql password. The link works once, for {valid}."
            )],
            action: Some(("Choose a new password", link)),
            not_you: "If you did not ask for this, ignore this message: your password stays as it is.",
        },
        MailKind::PasswordWasReset => Words {
            subject: "Your taskql password was reset",
            lines: vec![format!(
                "Hello {username}, your taskql password was just reset, and every device was signed out."
            )],
            action: None,
            not_you: "If you did not do this, reset your password again right away and check that your email account is safe.",
        },
        MailKind::ChangeEmail => Words {
            subject: "Confirm your new email address for taskql",
            lines: vec![format!(
                "Hello {username}, please confirm that taskql should use this address from now on. The link works once, for {valid}."
            )],
            action: Some(("Use this address", link)),
            not_you: "If you did not ask for this, ignore this message: the account keeps its old address.",
        },
        MailKind::EmailChangeRequested => Words {
            subject: "Your taskql email address is about to change",
            lines: vec![format!(
                "Hello {username}, someone signed in to your taskql account asked to move it to another email address. It changes only when the link sent to the new address is used."
            )],
            action: None,
            not_you: "If you did not ask for this, change your password now: whoever asked knows it.",
        },
        MailKind::EmailWasChanged => Words {
            subject: "Your taskql account moved to another email address",
            lines: vec![format!(
                "Hello {username}, your taskql account now uses another email address; messages about it will no longer come here."
            )],
            action: None,
            not_you: "If you did not do this, contact the service's operators right away: someone who knows your password moved your account.",
        },
        MailKind::PasswordWasChanged => Words {
            subject: "Your taskql password was changed",
            lines: vec![format!(
                "Hello {username}, your taskql password was just changed, and every other device was signed out."
            )],
            action: None,
            not_you: "If you did not do this, reset your password right away.",
        },
        MailKind::TwoFactorWasEnabled => Words {
            subject: "Two-factor authentication was turned on for taskql",
            lines: vec![format!(
                "Hello {username}, two-factor authentication was just turned on for your taskql account: signing in now takes a code from an authenticator app, or a recovery code."
            )],
            action: None,
            not_you: "If you did not do this, someone who knows your password and was signed in did: reset your password and contact the service's operators right away.",
        },
        MailKind::TwoFactorWasDisabled => Words {
            subject: "Two-factor authentication was turned off for taskql",
            lines: vec![format!(
                "Hello {username}, two-factor authentication was just turned off for your taskql account: a password alone now signs in."
            )],
            action: None,
            not_you: "If you did not do this, reset your password and turn two-factor on again right away.",
        },
        MailKind::RecoveryCodesWereRegenerated => Words {
            subject: "New taskql recovery codes were made",
            lines: vec![format!(
                "Hello {username}, new recovery codes were just made for your taskql account; the old ones no longer work."
            )],
            action: None,
            not_you: "If you did not do this, reset your password right away: whoever did knows it and has your second factor.",
        },
        MailKind::RecoveryCodeWasUsed => Words {
            subject: "A taskql recovery code was used",
            lines: vec![format!(
                "Hello {username}, one of your taskql recovery codes was just used; it will not work again."
            )],
            action: None,
            not_you: "If you did not do this, reset your password and make new recovery codes right away.",
        },
    };
    let mut text = words.lines.join("\n\n");
    let mut html = String::new();
    for line in &words.lines {
        html.push_str(&format!("<p>{}</p>", escape(line)));
    }
    if let Some((label, href)) = &words.action {
        text.push_str(&format!("\n\n{label}:\n{href}"));
        html.push_str(&format!(
            r#"<p><a href="{}">{}</a></p>"#,
            escape(href),
            escape(label)
        ));
    }
    text.push_str(&format!("\n\n{}\n", words.not_you));
    html.push_str(&format!("<p>{}</p>", escape(words.not_you)));
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{html}</body></html>",
        escape(words.subject)
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(words.subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
}

/// "30 minutes", "an hour", "24 hours".
fn lifetime(valid_for: Duration) -> String {
    let minutes = valid_for.as_secs() / 60;
    match minutes {
        60 => "an hour".into(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        1 => "a minute".into(),
        m => format!("{m} minutes"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(Duration::from_secs(30 * 60)), "30 minutes");
        assert_eq!(lifetime(Duration::from_secs(3600)), "an hour");
        assert_eq!(lifetime(Duration::from_secs(24 * 3600)), "24 hours");
        assert_eq!(lifetime(Duration::from_secs(60)), "a minute");
    }

    #[test]
    fn html_parts_escape_what_they_quote() {
        assert_eq!(
            escape(r#"<a href="x">&"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }

    #[test]
    fn every_message_has_a_plain_and_an_html_part() {
        let from: Mailbox = "taskql <no-reply@example.com>".parse().unwrap();
        for kind in MailKind::ALL {
            let to: Mailbox = "a@example.com".parse().unwrap();
            let message = compose(
                &from,
                to,
                kind,
                "alice",
                Some("https://t.example/x"),
                Duration::from_secs(1800),
            )
            .unwrap();
            let raw = String::from_utf8(message.formatted()).unwrap();
            assert!(raw.contains("multipart/alternative"), "{kind:?}");
            assert!(
                raw.contains("text/plain") && raw.contains("text/html"),
                "{kind:?}"
            );
        }
    }
}
