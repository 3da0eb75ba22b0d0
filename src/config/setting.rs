//! Numbers and booleans that may come from a variable. A runbook keeps its limits in the
//! environment (`LP_RATE_LIMIT_MAX=100`), so `expect_limit = "${LP_RATE_LIMIT_MAX}"` must work
//! like `expect_limit = 100`: the string is interpolated, then parsed, and a bad value is an
//! error at its `file:line` like any other.

use std::borrow::Cow;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::located::Located;

/// A typed value as written: itself (`port = 8443`), or text to interpolate and parse
/// (`port = "${TLS_PORT}"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Setting<T> {
    Literal(T),
    Text(String),
}

/// A typed config value and where it was written.
pub type Typed<T> = Located<Setting<T>>;

impl<T> Typed<T> {
    /// A value given on the command line: already typed by clap.
    pub fn literal(value: T) -> Self {
        Located::unplaced(Setting::Literal(value))
    }
}

/// A number that parsed but is no value: NaN or an infinity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NotFinite(pub f64);

impl std::fmt::Display for NotFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a finite number", self.0)
    }
}

impl std::error::Error for NotFinite {}

/// What a setting may hold, and what a wrong one is called in an error.
pub trait Scalar: FromStr + Copy + std::fmt::Display {
    /// Completes "expected …".
    const EXPECTED: &'static str;

    /// Values of the type that are no value at all (NaN, infinities).
    fn check(self) -> Result<Self, NotFinite> {
        Ok(self)
    }
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const EXPECTED: &'static str = concat!("a whole number that fits ", stringify!($t));
        }
    )*};
}
whole_numbers!(u8, u16, u32, u64, usize, i64);

impl Scalar for f64 {
    const EXPECTED: &'static str = "a number";

    fn check(self) -> Result<Self, NotFinite> {
        if self.is_finite() {
            Ok(self)
        } else {
            Err(NotFinite(self))
        }
    }
}

impl Scalar for bool {
    const EXPECTED: &'static str = "a boolean (true or false)";
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // TOML is self-describing: read the value, then decide what it is.
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(text) => Ok(Setting::Text(text)),
            other => T::deserialize(other)
                .map(Setting::Literal)
                .map_err(|e| D::Error::custom(e.message().trim())),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Setting<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Setting_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let literal = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [
                literal,
                {
                    "type": "string",
                    "description": "the same value from a variable, e.g. \"${LIMIT}\""
                }
            ]
        })
    }
}
