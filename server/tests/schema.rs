//! The published record schemas (docs/schema/records.schema.json) are the model's: the
//! file is what `shared::check::schema()` generates, and the server serves the same at
//! `GET /api/schema`. After a change to the model, regenerate the file with
//! `MIMAMORI_WRITE_SCHEMA=1 cargo test -p server --test schema`.

mod common;
use common::*;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/schema/records.schema.json"
);

fn generated() -> String {
    serde_json::to_string_pretty(&shared::check::schema()).unwrap() + "\n"
}

#[test]
fn the_published_schema_is_the_one_the_model_generates() {
    if std::env::var_os("MIMAMORI_WRITE_SCHEMA").is_some() {
        std::fs::write(FILE, generated()).unwrap();
    }
    let published = std::fs::read_to_string(FILE).expect("docs/schema/records.schema.json");
    assert!(
        published == generated(),
        "docs/schema/records.schema.json is out of date: run MIMAMORI_WRITE_SCHEMA=1 cargo test -p server --test schema"
    );
    let v: serde_json::Value = serde_json::from_str(&published).unwrap();
    // What an outside client needs: a visit's fields with their types, and its rules.
    let visit = &v["$defs"]["Visit"];
    assert_eq!(visit["properties"]["recorded_at"]["type"], "integer");
    assert_eq!(visit["properties"]["date"]["$ref"], "#/$defs/Date");
    let rules: Vec<&str> = visit["x-rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"future_date") && rules.contains(&"too_long"),
        "{rules:?}"
    );
    assert_eq!(v["x-documents"]["person"]["root"]["$ref"], "#/$defs/Person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_schema() {
    let s = TestServer::start("sqlite").await;
    let r = s
        .http
        .get(format!("{}/api/schema", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v, shared::check::schema());
}
