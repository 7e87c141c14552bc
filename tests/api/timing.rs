//! Outcomes the API does not tell apart must not differ in timing either. Time itself is
//! too noisy to assert, so these tests count what costs time: argon2 work (each run takes
//! the configured cost), sleeps that stand in for a verification (each lasts a typical
//! one) and SQL statements. `examples/timing_bench.rs` measures the times.

use std::time::Instant;

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, code, spawn_app_with, spawn_login_limited};

/// The argon2 hashes, argon2 verifications, sleeps in place of a verification and SQL
/// statements `action` costs the server.
async fn cost<F: Future>(app: &TestApp, action: F) -> (F::Output, [u64; 4]) {
    let count = || {
        [
            app.hashing.hashes(),
            app.hashing.verifications(),
            app.hashing.sleeps(),
            app.statements.get(),
        ]
    };
    let before = count();
    let output = action.await;
    let after = count();
    (output, [0, 1, 2, 3].map(|i| after[i] - before[i]))
}

#[tokio::test]
async fn every_failed_login_costs_one_verification_and_the_same_queries() {
    let app = spawn_login_limited("3", "1000").await;
    app.signed_up("walter").await;
    app.signed_up("dora").await;
    app.registered("tess").await;
    app.deactivate("dora").await;

    let (wrong, wrong_cost) = cost(&app, app.login("walter", "not the password")).await;
    let (unknown, unknown_cost) = cost(&app, app.login("nobody", "not the password")).await;
    let (inactive, inactive_cost) = cost(&app, app.login("dora", PASSWORD)).await;
    let (by_email, by_email_cost) = cost(&app, app.login("nobody@example.com", PASSWORD)).await;
    for body in [&wrong, &unknown, &inactive, &by_email] {
        assert_eq!(code(body), "UNAUTHENTICATED", "{body}");
        assert_eq!(body, &wrong, "failures read the same");
    }
    assert_eq!(wrong_cost[..3], [0, 1, 0], "one verification, no hash");
    assert_eq!(
        unknown_cost, wrong_cost,
        "an unknown account costs the same"
    );
    assert_eq!(
        inactive_cost, wrong_cost,
        "a deactivated account costs the same"
    );
    assert_eq!(by_email_cost, wrong_cost, "an unknown email costs the same");

    // A password too short to be anyone's fails before the lookup, after the same argon2
    // work; the API states the length rule, so skipping the lookup reveals nothing.
    let (short, short_cost) = cost(&app, app.login("walter", "short")).await;
    assert_eq!(short, wrong);
    assert_eq!(short_cost, [0, 1, 0, 0]);

    // tess reaches the account limit; throttled, real or unknown, the answer takes as
    // long as a typical verification without running one, so the hashing pool stays free.
    for _ in 0..3 {
        assert_eq!(code(&app.login("tess", "wrong").await), "UNAUTHENTICATED");
        assert_eq!(code(&app.login("ghost", "wrong").await), "UNAUTHENTICATED");
    }
    let typical = app.hashing.typical_verification();
    assert!(!typical.is_zero());
    let started = Instant::now();
    let (real, real_cost) = cost(&app, app.login("tess", PASSWORD)).await;
    assert!(started.elapsed() >= typical, "{:?}", started.elapsed());
    let (ghost, ghost_cost) = cost(&app, app.login("ghost", PASSWORD)).await;
    assert_eq!(code(&real), "RATE_LIMITED", "{real}");
    assert_eq!(code(&ghost), "RATE_LIMITED", "{ghost}");
    assert_eq!(real_cost, [0, 0, 1, 0]);
    assert_eq!(ghost_cost, real_cost);

    // walter failed twice, under the limit. The success path verifies once too (its hash has the configured cost: no rehash).
    let (success, success_cost) = cost(&app, app.login("walter", PASSWORD)).await;
    assert!(success["data"]["login"].is_object(), "{success}");
    assert_eq!(success_cost[..3], [0, 1, 0]);
}

#[tokio::test]
async fn register_refusals_the_api_does_not_explain_cost_the_same() {
    let app = spawn_app_with(&[]).await;
    app.signed_up("taken").await;
    let register = |username: &str, email: &str, password: &str| {
        app.gql(
            None,
            "mutation($i: RegisterInput!) { register(input: $i) { id } }",
            json!({ "i": { "username": username, "email": email, "password": password } }),
        )
    };

    // A weak password is refused before any lookup, whether the name is taken or not.
    let (weak_taken, weak_taken_cost) =
        cost(&app, register("taken", "new1@example.com", "password1")).await;
    let (weak_free, weak_free_cost) =
        cost(&app, register("free", "new2@example.com", "password1")).await;
    assert_eq!(code(&weak_taken), "BAD_USER_INPUT");
    assert_eq!(weak_taken["errors"], weak_free["errors"]);
    assert_eq!(weak_taken_cost, [0, 0, 0, 0]);
    assert_eq!(weak_free_cost, weak_taken_cost);
    // Likewise an email address taken or not, and a malformed one.
    let (weak_email, weak_email_cost) =
        cost(&app, register("other", "taken@example.com", "password1")).await;
    assert_eq!(weak_email["errors"], weak_free["errors"]);
    assert_eq!(weak_email_cost, [0, 0, 0, 0]);

    // With a strong password, a taken name is CONFLICT (the API says so) after the same
    // hashing work as a successful sign-up.
    let (conflict, conflict_cost) = cost(
        &app,
        register("TAKEN", "new3@example.com", "a perfectly decent passphrase"),
    )
    .await;
    let (created, created_cost) = cost(
        &app,
        register("fresh", "new4@example.com", "a perfectly decent passphrase"),
    )
    .await;
    assert_eq!(code(&conflict), "CONFLICT", "{conflict}");
    assert!(created["data"]["register"].is_object(), "{created}");
    assert_eq!(conflict_cost[..3], [1, 0, 0]);
    assert_eq!(created_cost[..3], [1, 0, 0]);
}

#[tokio::test]
async fn asking_for_mail_costs_the_same_whether_or_not_the_address_has_an_account() {
    let app = spawn_app_with(&[("MAIL_ADDRESS_RATE_LIMIT", "1000/hour")]).await;
    app.registered("ursula").await;
    let reset = "mutation($e: String!) { requestPasswordReset(email: $e) }";
    let verify = "mutation($e: String) { requestEmailVerification(email: $e) }";
    for query in [reset, verify] {
        let ask = |email: &'static str| app.gql(None, query, json!({ "e": email }));
        let (known, known_cost) = cost(&app, ask("ursula@example.com")).await;
        let (unknown, unknown_cost) = cost(&app, ask("nobody@example.com")).await;
        assert_eq!(known, unknown, "the same answer");
        assert_eq!(known_cost, unknown_cost, "the same work: {query}");
        assert_eq!(known_cost[..3], [0, 0, 0], "no argon2 work");
        assert!(
            known_cost[3] >= 1,
            "the statement that writes the message or nothing"
        );
    }
}

#[tokio::test]
async fn a_held_guess_at_a_code_costs_what_a_wrong_one_costs() {
    let app = spawn_app_with(&[
        ("LOGIN_ACCOUNT_FREE_FAILURES", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let uma = app.user("uma").await;
    let factor = app.two_factor_on(&uma).await;
    // Statements of one guess from an address the account has not seen pass a code check.
    let guess = async |code: &str| {
        let challenge = app.challenge("uma").await;
        let before = app.statements.get();
        let body = app
            .request()
            .forwarded_for("203.0.113.9")
            .operation(
                crate::helpers::documents::VERIFY_LOGIN,
                json!({ "ch": challenge, "c": code }),
            )
            .send()
            .await
            .json();
        (body, app.statements.get() - before)
    };
    let (wrong, wrong_statements) = guess("000000").await;
    assert_eq!(code(&wrong), "SECOND_FACTOR_REQUIRED", "{wrong}");
    let (wrong_recovery, wrong_recovery_statements) = guess("aaaa-bbbb-cccc-dddd").await;
    assert_eq!(code(&wrong_recovery), "SECOND_FACTOR_REQUIRED");
    let (held, held_statements) = guess(&factor.code(1)).await;
    assert_eq!(code(&held), "RATE_LIMITED", "{held}");
    assert_eq!(
        held_statements, wrong_statements,
        "a held TOTP reads what a wrong one reads"
    );
    let (held, held_statements) = guess(&factor.recovery_codes[0]).await;
    assert_eq!(code(&held), "RATE_LIMITED", "{held}");
    assert_eq!(
        held_statements, wrong_recovery_statements,
        "a held recovery code reads what a wrong one reads"
    );
}
