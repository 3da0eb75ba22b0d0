//! The checked-in JSON Schemas must match the Rust types. Regenerate after changing a type:
//! `SHIPGATE_BLESS=1 cargo test --test schemas`.

use std::path::Path;

fn check(path: &str, schema: serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let generated = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    if std::env::var_os("SHIPGATE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is stale: the types changed. Regenerate with `SHIPGATE_BLESS=1 cargo test --test schemas` \
         and commit it (a report field change is a breaking change: say so in the changelog).",
        path.display()
    );
}

#[test]
fn report_schema_is_current() {
    check(
        "schemas/report.schema.json",
        shipgate::report::json_schema(),
    );
}

#[test]
fn config_schema_is_current() {
    check(
        "schemas/config.schema.json",
        shipgate::config::json_schema(),
    );
}
