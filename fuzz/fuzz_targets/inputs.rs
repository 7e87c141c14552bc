//! Every parser of client text: the domain types, login identifiers, search texts and the
//! password policy (which `passwordStrength` runs for anyone). None may panic, and what a
//! parser makes of a value must parse again to itself: stored values are parsed again
//! later (`changePassword` re-parses the account's username and email).
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskql::auth::policy;
use taskql::domain::{Email, Password, TaskDescription, TaskTitle, Username};
use taskql::store::admin::AccountSearch;
use taskql::store::tasks::SearchText;
use taskql::store::users::Login;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the value; the rest plays the account's username and email.
    let (value, identity) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(username) = Username::parse(value) {
        let again = Username::parse(username.as_str()).expect("a parsed username parses");
        assert_eq!(again.as_str(), username.as_str());
    }
    if let Ok(email) = Email::parse(value) {
        let again = Email::parse(email.as_str()).expect("a parsed email parses");
        assert_eq!(again.as_str(), email.as_str());
    }
    if let Ok(password) = Password::parse(value) {
        let again = Password::parse(password.expose()).expect("a parsed password parses");
        assert_eq!(again.expose(), password.expose());
    }
    if let Ok(title) = TaskTitle::parse(value) {
        let title = title.into_inner();
        let again = TaskTitle::parse(&title).expect("a parsed title parses");
        assert_eq!(again.into_inner(), title);
    }
    let _ = TaskDescription::parse(value);
    let _ = SearchText::parse(value);
    let _ = AccountSearch::parse(value);
    let _ = Login::parse(value);
    let strength = policy::assess(value, Some(identity), Some(identity));
    assert!(strength.score <= 4);
    assert_eq!(strength.acceptable, strength.reasons.is_empty());
});
