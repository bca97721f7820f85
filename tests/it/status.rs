//! The replaced wrapper's status-check API, kept with validation, limits and pagination.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::{TestServer, assert_problem};

#[tokio::test]
async fn names_are_validated() {
    let server = TestServer::start();
    let anonymous = server.client();
    for bad in [
        json!({"client_name": "x".repeat(256)}),
        json!({"client_name": "a\u{0}b"}),
        json!({"client_name": "  "}),
    ] {
        let body = assert_problem(anonymous.post("/api/status", &bad).await, 422).await;
        assert_eq!(body["errors"][0]["field"], "client_name");
    }
    // A NoSQL-style object is just the wrong type, not a query.
    assert_problem(
        anonymous
            .post("/api/status", &json!({"client_name": {"$gt": ""}}))
            .await,
        422,
    )
    .await;
    let created = anonymous
        .post("/api/status", &json!({"client_name": "  probe  "}))
        .await;
    assert_eq!(created.status(), 201);
    let item: Value = created.json().await.expect("json");
    assert_eq!(item["client_name"], "probe");
    assert_eq!(&item["id"].as_str().expect("id")[14..15], "7");
    assert!(
        item["timestamp"]
            .as_str()
            .expect("timestamp")
            .ends_with('Z')
    );
    assert_problem(anonymous.get("/api/status").await, 401).await;
}

#[tokio::test]
async fn anonymous_posts_are_rate_limited_but_not_the_owner() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let anonymous = server.client();
    let mut limited = None;
    for i in 0..40 {
        let response = anonymous
            .post("/api/status", &json!({"client_name": format!("a{i}")}))
            .await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            limited = Some(i);
            break;
        }
        assert_eq!(response.status(), 201);
    }
    assert!(limited.is_some(), "no limit within 40 anonymous posts");
    for i in 0..40 {
        let response = owner
            .post("/api/status", &json!({"client_name": format!("o{i}")}))
            .await;
        assert_eq!(response.status(), 201);
    }
}

#[tokio::test]
async fn two_hundred_fifty_items_page_without_gaps() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let mut created = Vec::new();
    for i in 0..250 {
        let response = owner
            .post("/api/status", &json!({"client_name": format!("item {i}")}))
            .await;
        assert_eq!(response.status(), 201);
        let item: Value = response.json().await.expect("json");
        created.push(item["id"].as_str().expect("id").to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/status?limit=40&cursor={c}"),
            None => "/api/status?limit=40".to_string(),
        };
        let page = owner.json(&path).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        250,
        "no duplicates"
    );
    created.reverse();
    assert_eq!(seen, created, "newest first, nothing missing");
    assert_eq!(
        owner.json("/api/status").await["items"]
            .as_array()
            .expect("items")
            .len(),
        50
    );
    assert_problem(owner.get("/api/status?limit=201").await, 422).await;
    assert_problem(owner.get("/api/status?cursor=nonsense").await, 422).await;
}

/// Every item the owner can page through, newest first.
async fn all_items(owner: &crate::harness::Client) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/status?limit=200&cursor={c}"),
            None => "/api/status?limit=200".to_string(),
        };
        let page = owner.json(&path).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return items,
        }
    }
}

/// Issue 11, defect 8: strangers writing from many addresses fill only a small budget of
/// their own (128 KiB of names), never the owner's history; before, every row shared one cap
/// of 100,000.
#[tokio::test]
async fn anonymous_posts_have_a_budget_of_their_own() {
    let server = TestServer::start_setting("CLAWHOST_HTTP_TRUSTED_PROXIES", "127.0.0.1");
    let owner = server.claimed().await;
    for i in 0..3 {
        let response = owner
            .post("/api/status", &json!({"client_name": format!("mine {i}")}))
            .await;
        assert_eq!(response.status(), 201);
    }
    let stranger = server.client();
    let long = "s".repeat(250);
    for i in 0..600 {
        // Twenty addresses, each within its own burst.
        let response = stranger
            .http
            .post(stranger.url("/api/status"))
            .header("x-forwarded-for", format!("198.51.100.{}", i % 20))
            .json(&json!({"client_name": format!("{long}{i:05}")}))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 201, "post {i}");
    }
    let items = all_items(&owner).await;
    let mine = items
        .iter()
        .filter(|i| {
            i["client_name"]
                .as_str()
                .is_some_and(|n| n.starts_with("mine"))
        })
        .count();
    assert_eq!(mine, 3, "the owner's history stays");
    let theirs: Vec<&str> = items
        .iter()
        .filter_map(|i| i["client_name"].as_str())
        .filter(|n| n.starts_with('s'))
        .collect();
    let bytes: usize = theirs.iter().map(|n| n.len()).sum();
    assert!(bytes <= 128 * 1024, "{bytes} bytes of anonymous names kept");
    assert!(
        theirs.len() >= 500,
        "the budget is used, not emptied: {}",
        theirs.len()
    );
    assert!(theirs[0].ends_with("00599"), "the newest stay");
}
