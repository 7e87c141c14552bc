//! Reading one variable: the shared parsing rules, so that every variable answers a bad
//! value with the same kind of one-line message.

use std::ops::RangeInclusive;
use std::str::FromStr;

use super::ConfigError;
use crate::throttle::Rate;

/// A variable `var` parsed as `T`, or `default` when it is unset.
pub(super) fn parse<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(var, format!("`{raw}` is not a valid value"))),
    }
}

/// A variable that is `true` or `false`, or `default` when it is unset.
pub(super) fn flag(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ConfigError::new(var, "must be `true` or `false`")),
    }
}

/// An integer variable that must lie in `range`.
pub(super) fn ranged(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = parse(get, var, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            var,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

/// A rate such as `10/hour`.
pub(super) fn rate(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Rate, ConfigError> {
    Rate::parse(get(var).as_deref().unwrap_or(default))
        .map_err(|message| ConfigError::new(var, message))
}
