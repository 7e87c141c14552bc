//! The password policy, after NIST SP 800-63B: length 8 to 128, no composition rules, no
//! easily guessed or commonly used passwords (judged by zxcvbn), nothing built from the
//! account's own username or email.

use unicode_normalization::UnicodeNormalization;

use crate::domain::Password;

/// Lowest zxcvbn score accepted: 3 means at least 10^8 guesses, too many for an online
/// attack and costly offline against argon2id.
pub const MIN_SCORE: u8 = 3;

/// The verdict on a candidate password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    pub acceptable: bool,
    /// 0 (trivially guessed) to 4 (very strong).
    pub score: u8,
    /// Why it is not acceptable, in plain words; empty when acceptable.
    pub reasons: Vec<String>,
    pub suggestions: Vec<String>,
}

/// Judges `password` for an account with this username and email (either may be unknown).
pub fn assess(password: &str, username: Option<&str>, email: Option<&str>) -> Strength {
    let Ok(password) = Password::parse(password) else {
        return Strength {
            acceptable: false,
            score: 0,
            reasons: vec!["password must be 8 to 128 characters".into()],
            suggestions: vec!["Use a few words you will remember, separated by spaces.".into()],
        };
    };
    let candidate = password.expose().to_lowercase();
    let local_part = email.and_then(|email| email.split('@').next());
    let identities: Vec<String> = [username, email, local_part]
        .into_iter()
        .flatten()
        .map(|value| value.nfkc().collect::<String>().to_lowercase())
        .filter(|value| value.chars().count() >= 3)
        .collect();

    let mut reasons = Vec::new();
    if username.is_some_and(|name| contains(&candidate, name)) {
        reasons.push("password must not contain your username".to_owned());
    }
    if [email, local_part]
        .into_iter()
        .flatten()
        .any(|part| contains(&candidate, part))
    {
        reasons.push("password must not contain your email address".to_owned());
    }

    let inputs: Vec<&str> = identities.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password.expose(), &inputs);
    let score = u8::from(estimate.score());
    let feedback = estimate.feedback();
    if score < MIN_SCORE {
        let why = feedback
            .and_then(|feedback| feedback.warning())
            .map(|warning| {
                format!(
                    ": {}",
                    warning.to_string().trim_end_matches('.').to_lowercase()
                )
            })
            .unwrap_or_default();
        reasons.push(format!("password is too easy to guess{why}"));
    }
    let suggestions = feedback
        .map(|feedback| {
            feedback
                .suggestions()
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .unwrap_or_default();
    Strength {
        acceptable: reasons.is_empty(),
        score,
        reasons,
        suggestions,
    }
}

fn contains(candidate: &str, identity: &str) -> bool {
    let identity: String = identity.nfkc().collect::<String>().to_lowercase();
    identity.chars().count() >= 3 && candidate.contains(&identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_passphrases_pass() {
        let strength = assess(
            "correct horse battery staple",
            Some("alice"),
            Some("alice@example.com"),
        );
        assert!(strength.acceptable, "{strength:?}");
        assert!(strength.score >= MIN_SCORE);
        assert!(strength.reasons.is_empty());
    }

    #[test]
    fn common_and_short_passwords_fail_with_reasons() {
        for weak in [
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "aaaaaaaaaa",
        ] {
            let strength = assess(weak, None, None);
            assert!(!strength.acceptable, "{weak}");
            assert!(
                strength.reasons[0].starts_with("password is too easy to guess"),
                "{weak}: {strength:?}"
            );
        }
        let short = assess("Zx9!", None, None);
        assert_eq!(short.reasons, ["password must be 8 to 128 characters"]);
        assert_eq!(short.score, 0);
    }

    #[test]
    fn passwords_built_from_the_account_fail() {
        let strength = assess(
            "Alice-is-the-best-2026!",
            Some("alice"),
            Some("alice@example.com"),
        );
        assert!(
            strength
                .reasons
                .contains(&"password must not contain your username".to_owned())
        );
        let strength = assess(
            "xx-bobsmith-xx-orbit",
            Some("robert"),
            Some("BobSmith@example.com"),
        );
        assert!(
            strength
                .reasons
                .contains(&"password must not contain your email address".to_owned())
        );
    }
}
