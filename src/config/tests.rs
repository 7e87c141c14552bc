//! `Config::from_lookup` as a whole: defaults, each section's rules, and the one-line
//! error that names the variable.

use std::collections::HashMap;

use super::*;
use crate::throttle::Rate;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const DATA_KEY: &str = "data-key-data-key-data-key-data-key";

pub(super) fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Tests that give a signing key and are not about the data key get one too, so no
    // development key file is written into the working directory.
    if vars.contains_key("SECRET_KEY") {
        vars.entry("DATA_ENCRYPTION_KEY".into())
            .or_insert_with(|| DATA_KEY.into());
    }
    Config::from_lookup(|name| vars.get(name).cloned())
}

#[test]
fn defaults_apply_when_only_the_key_is_set() {
    let config = load(&[("SECRET_KEY", KEY)]).unwrap();
    assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(config.access_token_ttl, Duration::from_secs(30 * 60));
    assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
    assert_eq!(config.app_env, AppEnv::Development);
    assert_eq!(config.max_body_bytes, 256 * 1024);
    assert!(config.introspection);
    assert_eq!(config.jwt_issuer, "taskql");
    assert!(config.generated_key_file.is_none());
    assert_eq!(config.cors, CorsOrigins::Localhost);
    assert_eq!(config.max_batch, 0);
    assert_eq!(config.ws_auth_recheck, Duration::from_secs(5));
    assert_eq!(config.request_timeout, Duration::from_secs(10));
    assert_eq!(config.refresh_token_ttl, Duration::from_secs(7 * 86_400));
    assert_eq!(config.refresh_reuse_grace, Duration::from_secs(10));
    assert!(config.session_cache_ttl.is_zero());
    assert_eq!(config.session_purge_interval, Duration::from_secs(3600));
    assert_eq!(config.argon2, argon2::Params::DEFAULT);
    assert!(config.previous_secret_keys.is_empty());
    assert!(config.jwt_private_key.is_none());
    assert_eq!(config.limits.register, Rate::parse("10/hour").unwrap());
    assert_eq!(config.limits.refresh, Rate::parse("60/minute").unwrap());
    assert_eq!(
        config.limits.password_strength,
        Rate::parse("60/minute").unwrap()
    );
    assert_eq!(config.limits.mutations, Rate::parse("120/minute").unwrap());
    assert!(config.redis.is_none());
    assert_eq!(config.trusted_proxies, TrustedProxies::default());
}

#[test]
fn redis_settings_take_a_prefix_and_a_timeout_and_never_echo_the_url() {
    let config = load(&[
        ("SECRET_KEY", KEY),
        ("REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0"),
        ("REDIS_TIMEOUT_MS", "100"),
    ])
    .unwrap();
    let redis = config.redis.unwrap();
    assert_eq!(redis.key_prefix, "taskql:");
    assert_eq!(redis.timeout, Duration::from_millis(100));
    assert!(!format!("{redis:?}").contains("hunter2"));
    let socket = load(&[("SECRET_KEY", KEY), ("REDIS_URL", "unix:///run/redis.sock")]);
    assert!(socket.unwrap().redis.is_some());
    let err = load(&[("SECRET_KEY", KEY), ("REDIS_URL", "hunter2")]).unwrap_err();
    assert_eq!(err.var, "REDIS_URL");
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn the_redis_timeout_fits_four_times_into_the_request_deadline() {
    let vars = |redis_ms, deadline| {
        load(&[
            ("SECRET_KEY", KEY),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_TIMEOUT_MS", redis_ms),
            ("REQUEST_TIMEOUT_SECONDS", deadline),
        ])
    };
    assert!(vars("250", "1").is_ok());
    assert!(vars("2500", "10").is_ok());
    let err = vars("251", "1").unwrap_err();
    assert_eq!(err.var, "REDIS_TIMEOUT_MS");
    assert_eq!(
        err.message,
        "must be at most a quarter of REQUEST_TIMEOUT_SECONDS (250 ms here), so that requests finish on local counters while Redis hangs"
    );
    assert_eq!(vars("10000", "10").unwrap_err().var, "REDIS_TIMEOUT_MS");
    let without_redis = load(&[
        ("SECRET_KEY", KEY),
        ("REDIS_TIMEOUT_MS", "10000"),
        ("REQUEST_TIMEOUT_SECONDS", "0.1"),
    ]);
    assert!(without_redis.is_ok(), "the timeout only matters with Redis");
}

#[test]
fn previous_keys_are_a_comma_separated_list_of_long_keys() {
    let other = "fedcba9876543210fedcba9876543210";
    let config = load(&[
        ("SECRET_KEY", KEY),
        ("SECRET_KEY_PREVIOUS", &format!("{other}, {KEY}")),
    ])
    .unwrap();
    assert_eq!(config.previous_secret_keys.len(), 2);
    let err = load(&[
        ("SECRET_KEY", KEY),
        ("SECRET_KEY_PREVIOUS", &format!("{other},short")),
    ])
    .unwrap_err();
    assert_eq!(err.var, "SECRET_KEY_PREVIOUS");
    assert!(!err.to_string().contains("short"));
}

#[test]
fn cors_origins_are_listed_exactly_and_none_by_default_in_production() {
    let config = load(&[
        ("APP_ENV", "production"),
        ("SECRET_KEY", KEY),
        ("SMTP_URL", "off"),
    ])
    .unwrap();
    assert_eq!(config.cors, CorsOrigins::List(vec![]));
    let config = load(&[
        ("SECRET_KEY", KEY),
        (
            "CORS_ALLOWED_ORIGINS",
            " https://App.example.com , http://localhost:5173,",
        ),
    ])
    .unwrap();
    assert_eq!(
        config.cors,
        CorsOrigins::List(vec![
            "https://app.example.com".into(),
            "http://localhost:5173".into()
        ])
    );
}

#[test]
fn batching_is_bounded_and_the_recheck_interval_configurable() {
    let config = load(&[
        ("SECRET_KEY", KEY),
        ("GRAPHQL_MAX_BATCH", "10"),
        ("WS_AUTH_RECHECK_SECONDS", "1"),
        ("REQUEST_TIMEOUT_SECONDS", "0.25"),
    ])
    .unwrap();
    assert_eq!(config.max_batch, 10);
    assert_eq!(config.ws_auth_recheck, Duration::from_secs(1));
    assert_eq!(config.request_timeout, Duration::from_millis(250));
}

#[test]
fn production_requires_a_long_enough_key_and_hides_introspection() {
    let err = load(&[("APP_ENV", "production")]).unwrap_err();
    assert_eq!(err.var, "SECRET_KEY");
    let err = load(&[("APP_ENV", "production"), ("SECRET_KEY", "short")]).unwrap_err();
    assert_eq!(err.var, "SECRET_KEY");
    assert!(
        !err.to_string().contains("short"),
        "the key is never echoed"
    );
    let config = load(&[
        ("APP_ENV", "production"),
        ("SECRET_KEY", KEY),
        ("SMTP_URL", "off"),
    ])
    .unwrap();
    assert!(!config.introspection);
}

#[test]
fn administrators_need_two_factor_in_production_unless_turned_off() {
    let production = [
        ("APP_ENV", "production"),
        ("SECRET_KEY", KEY),
        ("SMTP_URL", "off"),
    ];
    assert!(load(&production).unwrap().admin_require_two_factor);
    assert!(
        !load(&[("SECRET_KEY", KEY)])
            .unwrap()
            .admin_require_two_factor
    );
    let mut off = production.to_vec();
    off.push(("ADMIN_REQUIRE_TWO_FACTOR", "false"));
    assert!(!load(&off).unwrap().admin_require_two_factor);
    let on = load(&[("SECRET_KEY", KEY), ("ADMIN_REQUIRE_TWO_FACTOR", " true ")]).unwrap();
    assert!(on.admin_require_two_factor);
}

#[test]
fn every_invalid_value_names_its_variable() {
    for (var, value) in [
        ("APP_ENV", "staging"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "soon"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
        ("BIND_ADDR", "localhost"),
        ("MAX_BODY_BYTES", "12"),
        ("GRAPHQL_INTROSPECTION", "yes"),
        ("ADMIN_REQUIRE_TWO_FACTOR", "1"),
        ("CORS_ALLOWED_ORIGINS", "*"),
        ("CORS_ALLOWED_ORIGINS", "app.example.com"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
        ("CORS_ALLOWED_ORIGINS", "ftp://files.example.com"),
        ("GRAPHQL_MAX_BATCH", "101"),
        ("GRAPHQL_MAX_BATCH", "-1"),
        ("WS_AUTH_RECHECK_SECONDS", "0"),
        ("WS_AUTH_RECHECK_SECONDS", "301"),
        ("REQUEST_TIMEOUT_SECONDS", "0.05"),
        ("REQUEST_TIMEOUT_SECONDS", "301"),
        ("REQUEST_TIMEOUT_SECONDS", "NaN"),
        ("REQUEST_TIMEOUT_SECONDS", "soon"),
        ("REFRESH_TOKEN_EXPIRE_DAYS", "0"),
        ("REFRESH_TOKEN_EXPIRE_DAYS", "366"),
        ("REFRESH_REUSE_GRACE_SECONDS", "61"),
        ("SESSION_CACHE_SECONDS", "6"),
        ("SESSION_PURGE_INTERVAL_SECONDS", "0"),
        ("ARGON2_MEMORY_KIB", "4096"),
        ("ARGON2_ITERATIONS", "1"),
        ("ARGON2_PARALLELISM", "0"),
        ("JWT_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
        ("LOGIN_ACCOUNT_FREE_FAILURES", "0"),
        ("LOGIN_ADDRESS_FREE_FAILURES", "many"),
        ("LOGIN_BACKOFF_BASE_SECONDS", "0"),
        ("LOGIN_BACKOFF_MAX_SECONDS", "10"),
        ("REGISTER_RATE_LIMIT", "10"),
        ("REFRESH_RATE_LIMIT", "0/minute"),
        ("PASSWORD_STRENGTH_RATE_LIMIT", "5/week"),
        ("MUTATION_RATE_LIMIT", "many/minute"),
        ("REDIS_URL", "http://user:hunter2@localhost"),
        ("REDIS_URL", "redis://user:hunter2@[bad"),
        ("REDIS_URL", "rediss://user:hunter2@redis.example.com"),
        ("TRUSTED_PROXIES", "10.0.0.1, proxy.example.com"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ] {
        let err = load(&[("SECRET_KEY", KEY), (var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{var}={value}");
        assert!(err.to_string().starts_with(var));
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn mail_defaults_to_files_beside_the_database_in_development() {
    let config = load(&[
        ("SECRET_KEY", KEY),
        ("DATABASE_URL", "sqlite:///srv/tq/t.db"),
    ])
    .unwrap();
    match &config.mail.transport {
        crate::config::MailTransport::Files(dir) => {
            assert_eq!(dir, std::path::Path::new("/srv/tq/taskql-mail"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(config.mail.public_url, "http://127.0.0.1:8000");
    assert_eq!(
        config.mail.verification,
        crate::config::EmailVerification::Optional
    );
    assert_eq!(config.mail.reset_password_ttl.as_secs(), 30 * 60);
    assert_eq!(config.mail.verify_email_ttl.as_secs(), 24 * 3600);
}

#[test]
fn production_mail_needs_an_smtp_server_a_public_url_and_encryption_off_this_machine() {
    let production = |extra: &[(&'static str, &'static str)]| {
        let mut vars = vec![("APP_ENV", "production"), ("SECRET_KEY", KEY)];
        vars.extend_from_slice(extra);
        load(&vars)
    };
    assert_eq!(production(&[]).unwrap_err().var, "SMTP_URL");
    assert_eq!(
        production(&[("SMTP_URL", "smtps://u:p@mail.example.com")])
            .unwrap_err()
            .var,
        "PUBLIC_URL"
    );
    let err = production(&[
        (
            "SMTP_URL",
            "smtp://user:hunter2@mail.example.com:587?tls=opportunistic",
        ),
        ("PUBLIC_URL", "https://tasks.example.com"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "SMTP_URL");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let plain = production(&[
        ("SMTP_URL", "smtps://u:p@mail.example.com"),
        ("PUBLIC_URL", "http://tasks.example.com"),
    ]);
    assert_eq!(plain.unwrap_err().var, "PUBLIC_URL");
    for ok in [
        "smtps://u:p@mail.example.com",
        "smtp://mail.example.com:587?tls=required",
        "smtp://mail.example.com:587",
        "smtp://127.0.0.1:25",
    ] {
        let vars = [
            ("SMTP_URL", ok),
            ("PUBLIC_URL", "https://tasks.example.com/"),
        ];
        let config = production(&vars).unwrap();
        assert_eq!(config.mail.public_url, "https://tasks.example.com");
    }
}

#[test]
fn bad_mail_settings_name_their_variable() {
    for (var, value) in [
        ("SMTP_URL", "http://mail.example.com"),
        ("SMTP_URL", "not a url"),
        ("PUBLIC_URL", "ftp://tasks.example.com"),
        ("PUBLIC_URL", "https://tasks.example.com/?x=1"),
        ("MAIL_FROM", "not an address"),
        ("EMAIL_VERIFICATION", "sometimes"),
        ("PASSWORD_RESET_TTL_MINUTES", "0"),
        ("MAIL_MAX_ATTEMPTS", "1000"),
    ] {
        let err = load(&[("SECRET_KEY", KEY), (var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{value}");
    }
}

#[test]
fn smtp_to_another_machine_means_starttls_and_required_verification_needs_mail() {
    let config = load(&[
        ("SECRET_KEY", KEY),
        ("SMTP_URL", "smtp://mail.example.com:587"),
    ])
    .unwrap();
    match &config.mail.transport {
        crate::config::MailTransport::Smtp(url) => {
            use secrecy::ExposeSecret;
            assert!(
                url.expose_secret().ends_with("?tls=required"),
                "STARTTLS required"
            );
        }
        other => panic!("{other:?}"),
    }
    let err = load(&[
        ("SECRET_KEY", KEY),
        ("SMTP_URL", "off"),
        ("EMAIL_VERIFICATION", "required"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "EMAIL_VERIFICATION");
}

#[test]
fn the_data_key_follows_the_signing_key_rules_and_must_differ_from_it() {
    let production = |extra: &[(&'static str, &'static str)]| {
        let mut vars = vec![
            ("APP_ENV", "production"),
            ("SMTP_URL", "off"),
            ("SECRET_KEY", KEY),
        ];
        vars.extend_from_slice(extra);
        load(&vars)
    };
    let err = production(&[("DATA_ENCRYPTION_KEY", "short")]).unwrap_err();
    assert_eq!(err.var, "DATA_ENCRYPTION_KEY");
    assert!(err.message.contains("gen-secret"), "{err}");
    let err = production(&[("DATA_ENCRYPTION_KEY", KEY)]).unwrap_err();
    assert_eq!(err.var, "DATA_ENCRYPTION_KEY");
    assert!(err.message.contains("differ"), "{err}");
    let err = production(&[
        ("DATA_ENCRYPTION_KEY", DATA_KEY),
        ("DATA_ENCRYPTION_KEY_PREVIOUS", "short"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "DATA_ENCRYPTION_KEY_PREVIOUS");
    let config = production(&[
        ("DATA_ENCRYPTION_KEY", DATA_KEY),
        (
            "DATA_ENCRYPTION_KEY_PREVIOUS",
            "an-earlier-data-key-an-earlier-data-key, another-earlier-data-key-another-one",
        ),
    ]);
    let config = config.unwrap();
    assert_eq!(config.previous_data_keys.len(), 2);
    assert!(config.generated_data_key_file.is_none());
    assert_eq!(config.totp_issuer, "taskql");
    assert_eq!(
        config.security_event_retention,
        Duration::from_secs(90 * 86_400)
    );
    assert_eq!(
        production(&[("DATA_ENCRYPTION_KEY", DATA_KEY), ("TOTP_ISSUER", "a:b")])
            .unwrap_err()
            .var,
        "TOTP_ISSUER"
    );
}

#[test]
fn production_requires_the_data_key() {
    let vars = HashMap::from([
        ("APP_ENV", "production"),
        ("SMTP_URL", "off"),
        ("SECRET_KEY", KEY),
    ]);
    let err = Config::from_lookup(|name| vars.get(name).map(|v| v.to_string())).unwrap_err();
    assert_eq!(err.var, "DATA_ENCRYPTION_KEY");
    assert!(err.message.contains("required"), "{err}");
}

#[test]
fn development_generates_a_private_data_key_beside_the_database() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data.db?mode=rwc", dir.path().display());
    let vars = HashMap::from([("DATABASE_URL", url.as_str())]);
    let config = Config::from_lookup(|name| vars.get(name).map(|v| v.to_string())).unwrap();
    let path = dir.path().join(DEV_DATA_KEY_FILE);
    assert_eq!(
        config.generated_data_key_file.as_deref(),
        Some(path.as_path())
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    use secrecy::ExposeSecret;
    assert_ne!(
        config.data_key.expose_secret(),
        config.secret_key.expose_secret()
    );
}
