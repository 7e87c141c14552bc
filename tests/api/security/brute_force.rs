//! Attacker probes against the throttles: password guessing with and without rotating
//! `X-Forwarded-For`, behind trusted proxies, account enumeration through throttling, and
//! floods of `register`, `refreshToken`, `passwordStrength` and mutations. Each asserts
//! the exact safe outcome.

use serde_json::{Value, json};

use crate::helpers::documents::{LOGIN, REFRESH, REGISTER};
use futures::FutureExt;

use crate::helpers::{
    PASSWORD, Reply, TestApp, assert_rate_limited, assert_refresh_refused, assert_signed_in,
    assert_wrong_login, code, refresh, refreshed, register_input, spawn_app, spawn_app_with,
    spawn_backing_off, spawn_login_limited, works,
};

/// An app behind a trusted proxy at 127.0.0.1 whose clients get three free failures each
/// and whose accounts practically unlimited ones.
async fn behind_a_proxy() -> TestApp {
    spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1000"),
        ("LOGIN_ADDRESS_FREE_FAILURES", "3"),
    ])
    .await
}

/// An app behind a trusted proxy at 127.0.0.1 whose accounts get three free failures each
/// and whose clients the default.
async fn behind_a_proxy_guarding_accounts() -> TestApp {
    spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "3"),
    ])
    .await
}

/// Three wrong guesses from `forwarded`, each at another account: all a client behind
/// [`behind_a_proxy`] may fail before it waits.
async fn spend_the_address_budget(app: &TestApp, forwarded: &str) {
    for account in ["amy", "bert", "cleo"] {
        app.wrong_guess(Some(forwarded), account).await;
    }
}

#[tokio::test]
async fn probe_guessing_one_password_from_rotating_forwarded_addresses() {
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_FREE_FAILURES", "3")]).await;
    app.registered("victim").await;
    for i in 0..3 {
        let forwarded = format!("198.51.100.{i}");
        app.wrong_guess(Some(&forwarded), "victim").await;
    }
    // The right password now waits too, from any claimed address.
    let refused = app
        .login_from(Some("203.0.113.200"), "victim", PASSWORD)
        .await;
    assert_eq!(assert_rate_limited(&refused), 30);
}

#[tokio::test]
async fn probe_one_address_rotating_forwarded_for_across_accounts_gains_nothing() {
    let app = spawn_login_limited("1000", "3").await;
    app.user("mallory").await;
    for (i, account) in ["amy", "bert", "cleo"].iter().enumerate() {
        let forwarded = format!("198.51.100.{i}, 10.0.0.{i}");
        app.wrong_guess(Some(&forwarded), account).await;
    }
    for forwarded in ["198.51.100.99", "::1", "127.0.0.2"] {
        assert_rate_limited(&app.login_from(Some(forwarded), "mallory", PASSWORD).await);
    }
}

#[tokio::test]
async fn probe_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = behind_a_proxy().await;
    app.user("honest").await;
    spend_the_address_budget(&app, "198.51.100.1").await;
    assert_rate_limited(
        &app.login_from(Some("198.51.100.1"), "honest", PASSWORD)
            .await,
    );
    // Another client behind the same proxy is not held up by the first one's guesses.
    assert_signed_in(
        &app.login_from(Some("198.51.100.2"), "honest", PASSWORD)
            .await,
    );
}

#[tokio::test]
async fn probe_a_spoofed_left_most_forwarded_entry_does_not_help() {
    let app = behind_a_proxy().await;
    app.user("target").await;
    spend_the_address_budget(&app, "198.51.100.1").await;
    // The proxy appends the real address; whatever the client wrote before it is ignored.
    for spoofed in [
        "203.0.113.77, 198.51.100.1",
        "198.51.100.2, 198.51.100.1",
        "127.0.0.1, 198.51.100.1",
    ] {
        assert_rate_limited(&app.login_from(Some(spoofed), "target", PASSWORD).await);
    }
}

#[tokio::test]
async fn probe_non_ascii_bytes_in_forwarded_for_do_not_make_the_client_the_proxy() {
    let app = behind_a_proxy().await;
    app.user("target").await;
    spend_the_address_budget(&app, "198.51.100.1").await;
    // The client writes a non-ASCII entry; the proxy appends the real address after it.
    for forwarded in [&b"caf\xc3\xa9, 198.51.100.1"[..], b"\xff, 198.51.100.1"] {
        let reply = app
            .request()
            .header_bytes("x-forwarded-for", forwarded)
            .operation(
                LOGIN,
                json!({ "input": { "username": "target", "password": PASSWORD } }),
            )
            .send()
            .await;
        assert_rate_limited(&reply);
    }
}

#[tokio::test]
async fn probe_rotating_addresses_within_one_ipv6_64_gains_nothing() {
    let app = behind_a_proxy().await;
    app.user("target").await;
    for (i, account) in ["amy", "bert", "cleo"].iter().enumerate() {
        let forwarded = format!("2001:db8:5:6::{:x}", i + 1);
        app.wrong_guess(Some(&forwarded), account).await;
    }
    for forwarded in ["2001:db8:5:6::99", "2001:db8:5:6:ffff:ffff:ffff:ffff"] {
        assert_rate_limited(&app.login_from(Some(forwarded), "target", PASSWORD).await);
    }
    // The next /64 is another subscriber.
    assert_signed_in(
        &app.login_from(Some("2001:db8:5:7::1"), "target", PASSWORD)
            .await,
    );
}

#[tokio::test]
async fn probe_many_forwarded_clients_against_one_account_hit_the_account_limit() {
    let app = behind_a_proxy_guarding_accounts().await;
    app.user("popular").await;
    for i in 0..3 {
        let forwarded = format!("198.51.100.{i}");
        app.wrong_guess(Some(&forwarded), "popular").await;
    }
    assert_rate_limited(
        &app.login_from(Some("198.51.100.50"), "popular", PASSWORD)
            .await,
    );
}

#[tokio::test]
async fn probe_locking_an_account_does_not_lock_out_the_clients_its_owner_signs_in_from() {
    let app = behind_a_proxy_guarding_accounts().await;
    app.registered("owner").await;
    let (home, attacker, stranger) = ("192.0.2.10", "203.0.113.66", "198.51.100.5");
    assert_signed_in(&app.login_from(Some(home), "owner", PASSWORD).await);
    for _ in 0..3 {
        app.wrong_guess(Some(attacker), "owner").await;
    }
    // The account now waits for the attacker and for any client never seen signing in.
    assert_eq!(
        assert_rate_limited(&app.login_from(Some(attacker), "owner", PASSWORD).await),
        30
    );
    assert_eq!(
        assert_rate_limited(&app.login_from(Some(stranger), "owner", PASSWORD).await),
        30
    );
    // Not for the owner's client: its mistakes are verified (and counted), and the right
    // password gets in.
    assert_wrong_login(&app.login_from(Some(home), "owner", "a typo of mine").await);
    assert_eq!(
        assert_rate_limited(&app.login_from(Some(stranger), "owner", PASSWORD).await),
        60,
        "the owner's failure counts against the account"
    );
    assert_signed_in(&app.login_from(Some(home), "owner", PASSWORD).await);
}

#[tokio::test]
async fn probe_a_throttled_unknown_account_answers_exactly_like_a_real_one() {
    let app = spawn_login_limited("2", "1000").await;
    app.registered("realname").await;
    for _ in 0..2 {
        app.wrong_guess(None, "realname").await;
        app.wrong_guess(None, "nosuchname").await;
    }
    let real = app.login_from(None, "realname", PASSWORD).await;
    let unknown = app.login_from(None, "nosuchname", PASSWORD).await;
    let real_wait = assert_rate_limited(&real);
    let unknown_wait = assert_rate_limited(&unknown);
    assert!((29..=30).contains(&real_wait) && (29..=30).contains(&unknown_wait));
    let without_wait = |body: &Value| {
        let mut body = body.clone();
        body["errors"][0]["extensions"]
            .as_object_mut()
            .unwrap()
            .remove("retryAfter");
        body
    };
    assert_eq!(without_wait(&real.body), without_wait(&unknown.body));
}

#[tokio::test]
async fn probe_the_longest_wait_ends_and_the_right_password_works_again() {
    let app = spawn_backing_off("1").await;
    app.registered("patient").await;
    app.wrong_guess(None, "patient").await;
    assert_eq!(
        assert_rate_limited(&app.login_from(None, "patient", PASSWORD).await),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_signed_in(&app.login_from(None, "patient", PASSWORD).await);
}

#[tokio::test]
async fn probe_a_register_flood_from_one_address_is_refused_after_the_default_ten() {
    let app = spawn_app().await;
    for i in 0..10 {
        let forwarded = format!("198.51.100.{i}");
        let input = register_input(&format!("flood{i}"));
        let Reply { status, body, .. } =
            app.post_via(None, Some(&forwarded), REGISTER, input).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["register"]["id"].is_string(), "{body}");
    }
    let refused = app
        .post_via(
            None,
            Some("203.0.113.9"),
            REGISTER,
            register_input("flood10"),
        )
        .await;
    let seconds = assert_rate_limited(&refused);
    assert!(seconds <= 3600, "{seconds}");
    assert_eq!(app.count("users").await, 10);
}

#[tokio::test]
async fn probe_a_refresh_token_flood_is_refused_after_the_default_sixty_a_minute() {
    let app = spawn_app().await;
    let user = app.user("refresher").await;
    for i in 0..60 {
        let guess = json!({ "t": format!("guessed-refresh-token-{i}") });
        let Reply { status, body, .. } = app.post_via(None, None, REFRESH, guess).await;
        assert_eq!((status, code(&body)), (200, "UNAUTHENTICATED"), "{body}");
    }
    // Now even a genuine token waits; it is not consumed by the refusal.
    let seconds = assert_rate_limited(
        &app.post_via(None, None, REFRESH, json!({ "t": user.refresh }))
            .await,
    );
    assert!(seconds <= 60, "{seconds}");
    let sessions = app
        .gql(Some(&user.token), "{ sessions { id } }", json!({}))
        .await;
    assert_eq!(sessions["data"]["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn probe_a_password_strength_flood_is_refused_after_the_default_sixty_a_minute() {
    let app = spawn_app().await;
    let query = "query($p: String!) { passwordStrength(password: $p) { acceptable } }";
    for i in 0..60 {
        let Reply { status, body, .. } = app
            .post_via(None, None, query, json!({ "p": format!("candidate {i}") }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_rate_limited(
        &app.post_via(None, None, query, json!({ "p": "one more" }))
            .await,
    );
}

#[tokio::test]
async fn probe_aliased_mutations_spend_the_per_user_budget_of_120_a_minute() {
    let app = spawn_app().await;
    let user = app.user("busy").await;
    for _ in 0..4 {
        app.create_tasks(&user.token, 30).await;
    }
    let more = "mutation { a: createTask(input: { title: \"a\" }) { id } }";
    assert_rate_limited(&app.post_via(Some(&user.token), None, more, json!({})).await);
    assert_eq!(app.count("tasks").await, 120);
}

#[tokio::test]
async fn probe_correct_logins_from_one_address_are_limited_whatever_their_outcome() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ADDRESS_RATE_LIMIT", "4/minute"),
    ])
    .await;
    app.user("owner").await;
    let flooder = Some("203.0.113.20");
    for _ in 0..3 {
        assert_signed_in(&app.login_from(flooder, "owner", PASSWORD).await);
    }
    assert_wrong_login(&app.login_from(flooder, "owner", "not the password").await);
    let seconds = assert_rate_limited(&app.login_from(flooder, "owner", PASSWORD).await);
    assert!(seconds <= 60, "{seconds}");
    // The account is not held: its owner signs in from elsewhere.
    assert_signed_in(
        &app.login_from(Some("198.51.100.20"), "owner", PASSWORD)
            .await,
    );
}

#[tokio::test]
async fn probe_correct_logins_to_one_account_are_limited_from_every_address_together() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ACCOUNT_RATE_LIMIT", "3/minute"),
    ])
    .await;
    // The first of three successes.
    app.user("shared").await;
    for i in 0..2 {
        let from = format!("203.0.113.{i}");
        assert_signed_in(&app.login_from(Some(&from), "shared", PASSWORD).await);
    }
    let before = app.count("sessions").await;
    let seconds = assert_rate_limited(
        &app.login_from(Some("203.0.113.9"), "shared", PASSWORD)
            .await,
    );
    assert!(seconds <= 60, "{seconds}");
    assert_eq!(app.count("sessions").await, before, "no session for it");
    // Held before its password is checked: a wrong one gets the same answer, without a
    // verification, so the refusal says nothing about the password.
    let verifications = app.hashing.verifications();
    assert_rate_limited(
        &app.login_from(Some("203.0.113.9"), "shared", "not the password")
            .await,
    );
    assert_eq!(app.hashing.verifications(), verifications);
    // Wrong passwords do not spend the budget, so nobody without the password can lock
    // the owner out with it; other accounts are not held.
    let app = spawn_app_with(&[("LOGIN_ACCOUNT_RATE_LIMIT", "3/minute")]).await;
    app.user("guarded").await;
    for _ in 0..4 {
        assert_wrong_login(&app.login_from(None, "guarded", "a wrong guess").await);
    }
    assert_signed_in(&app.login_from(None, "guarded", PASSWORD).await);
}

#[tokio::test]
async fn probe_an_account_keeps_at_most_its_cap_of_live_sessions_ending_the_least_used() {
    let app = spawn_app_with(&[("MAX_SESSIONS_PER_ACCOUNT", "3")]).await;
    let oldest = app.user("collector").await;
    let used = app.logged_in("collector").await;
    let newer = app.logged_in("collector").await;
    // Using a session keeps it: the one used longest ago ends first.
    let used_access = refreshed(&refresh(&app, &used.refresh).await).0;
    let newest = app.logged_in("collector").await;
    assert!(
        !works(&app, &oldest.token).await,
        "the least recently used ended"
    );
    assert_refresh_refused(&refresh(&app, &oldest.refresh).await, "evicted session");
    for token in [&used_access, &newer.token, &newest.token] {
        assert!(works(&app, token).await);
    }
    let sessions = app
        .gql(Some(&newest.token), "{ sessions { id } }", json!({}))
        .await;
    assert_eq!(sessions["data"]["sessions"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn probe_a_flood_of_correct_logins_from_several_addresses_does_not_hold_back_another_login() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_ADDRESS_RATE_LIMIT", "1000/minute"),
        ("LOGIN_ACCOUNT_RATE_LIMIT", "1000/minute"),
        // Logins in flight count as failures until they succeed.
        ("LOGIN_ACCOUNT_FREE_FAILURES", "1000"),
    ])
    .await;
    const FLOODERS: usize = 4;
    const IN_FLIGHT: usize = 18;
    for i in 0..FLOODERS {
        app.user(&format!("flood{i}")).await;
    }
    app.user("bystander").await;
    let baseline = app.hashing.verifications();
    let flood = futures::future::join_all((0..FLOODERS).flat_map(|i| {
        let app = &app;
        (0..IN_FLIGHT).map(move |_| async move {
            let from = format!("203.0.113.{i}");
            assert_signed_in(
                &app.login_from(Some(&from), &format!("flood{i}"), PASSWORD)
                    .await,
            );
        })
    }));
    let bystander = async {
        // Let the flood fill the hashing queue first.
        while app.hashing.verifications() < baseline + 2 * FLOODERS as u64 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let before = app.hashing.verifications();
        assert_signed_in(
            &app.login_from(Some("198.51.100.1"), "bystander", PASSWORD)
                .await,
        );
        app.hashing.verifications() - before
    };
    let ((), waited) = tokio::join!(flood.map(drop), bystander);
    // Turns go round-robin between clients: about one verification per flooding address
    // (and those already running) comes before the bystander's own, plus what runs while
    // its request reaches the queue on a busy machine (a loaded CI run on PostgreSQL has
    // seen 16 with four flooders and one worker). First come, first served, it would wait
    // behind nearly all of the flood's seventy-two (about 60 measured).
    let workers = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    let most = (4 * (FLOODERS + workers)) as u64;
    assert!(
        waited <= most,
        "the bystander's login waited for {waited} verifications (at most {most} expected)"
    );
}
