//! Values that remember where in the config file they were written, so every later error
//! (a bad duration, a missing `${VAR:?}`) can name `file:line:column`.

use std::borrow::Cow;
use std::ops::{Deref, Range};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// A config value with the byte range of its text in the file.
#[derive(Clone, Debug)]
pub struct Located<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// A string as written in the config: it may still hold `${VAR}` references.
pub type Text = Located<String>;

impl<T> Located<T> {
    /// A value given on the command line rather than in a file. It is taken literally: the
    /// shell has expanded it already, and a `$$` in a password must stay as it is.
    pub fn unplaced(value: T) -> Self {
        Located { value, span: 0..0 }
    }
}

impl<T> Located<T> {
    pub fn is_unplaced(&self) -> bool {
        self.span == (0..0)
    }
}

impl<T> Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        let span = spanned.span();
        Ok(Located {
            value: spanned.into_inner(),
            span,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
