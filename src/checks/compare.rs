//! `<op> <number>`: the one comparison of a number read from a server with a number written in
//! the config, shared by the assertions that need it (metrics samples, Redis INFO fields).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Two-character operators first: `<=` is not `<` followed by `=`.
    const ALL: [Op; 6] = [Op::Eq, Op::Ne, Op::Le, Op::Ge, Op::Lt, Op::Gt];

    /// The operators as a message lists them.
    pub const LIST: &'static str = "== != < <= > >=";

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// The operator `text` starts with, and the text after it.
    pub fn split(text: &str) -> Option<(Op, &str)> {
        Op::ALL
            .into_iter()
            .find_map(|op| text.strip_prefix(op.symbol()).map(|rest| (op, rest)))
    }

    /// Whether `got <op> want` holds.
    pub fn holds(self, got: f64, want: f64) -> bool {
        match self {
            Op::Eq => got == want,
            Op::Ne => got != want,
            Op::Lt => got < want,
            Op::Le => got <= want,
            Op::Gt => got > want,
            Op::Ge => got >= want,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A number as written: `0.8`, `500`, `1e6`, `+Inf`; NaN is no number to compare with.
pub fn parse_number(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => None,
        t => t.parse().ok(),
    }
}

/// A whole number without a fraction (`1027`), anything else as Rust prints it (`0.25`).
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_split_longest_first_and_hold_at_their_boundary() {
        assert_eq!(Op::split("<= 3"), Some((Op::Le, " 3")));
        assert_eq!(Op::split("< 3"), Some((Op::Lt, " 3")));
        assert_eq!(Op::split(">=0.8"), Some((Op::Ge, "0.8")));
        assert_eq!(Op::split("== 1"), Some((Op::Eq, " 1")));
        assert_eq!(Op::split("= 1"), None);
        assert_eq!(Op::split("is 1"), None);
        assert!(Op::Le.holds(3.0, 3.0) && !Op::Lt.holds(3.0, 3.0));
        assert!(Op::Ge.holds(0.8, 0.8) && !Op::Gt.holds(0.8, 0.8));
        assert!(Op::Ne.holds(1.0, 2.0) && !Op::Eq.holds(1.0, 2.0));
        assert_eq!(Op::Ge.to_string(), ">=");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0.8"), Some(0.8));
        assert_eq!(parse_number("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("2GiB"), None);
        assert_eq!(format_number(1027.0), "1027");
        assert_eq!(format_number(0.25), "0.25");
    }
}
