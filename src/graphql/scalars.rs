use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, SubsecRound, Utc};

/// An instant in time, exchanged as an RFC 3339 string and always answered in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// RFC 3339 timestamp in UTC, e.g. 2026-03-05T10:00:00Z. Input may use any offset; it is
/// converted to UTC and kept to the microsecond.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|at| DateTime(at.to_utc().trunc_subsecs(6)))
            .map_err(|_| {
                InputValueError::custom(
                    "expected an RFC 3339 timestamp such as 2026-03-05T10:00:00Z",
                )
            })
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        DateTime(at)
    }
}
