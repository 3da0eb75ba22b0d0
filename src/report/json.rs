//! The machine-readable report: `shipgate.report/v1`.

use super::Report;

pub fn render(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a Report always serialises");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_with_schema_field() {
        let text = super::render(&super::super::sample::report());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema"], "shipgate.report/v1");
        assert_eq!(v["summary"]["failed"], 1);
        assert_eq!(v["results"][2]["location"]["line"], 7);
    }
}
