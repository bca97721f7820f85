//! Server-rendered pages: they work without JavaScript and carry no inline script.

use crate::harness::{PASSWORD, TestServer};

fn assert_clean_html(html: &str) {
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/app.css\">"));
    // Our CSP forbids inline script and style; the pages must not need them.
    let scripts: Vec<&str> = html
        .match_indices("<script")
        .map(|(i, _)| &html[i..])
        .collect();
    assert!(
        scripts
            .iter()
            .all(|tag| tag.starts_with("<script src=\"/static/app.js\" defer></script>")),
        "inline script"
    );
    assert!(!html.contains(" style="), "inline style");
    assert!(!html.contains("<style"), "inline style block");
}

async fn form(
    client: &crate::harness::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client
        .http
        .post(client.url(path))
        .form(fields)
        .send()
        .await
        .expect("POST form")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("text")
        .to_string()
}

#[tokio::test]
async fn claim_login_dashboard_and_logout_without_javascript() {
    let server = TestServer::start();
    let browser = server.client();

    let root = browser.get("/").await;
    assert_eq!(root.status(), 303);
    assert_eq!(location(&root), "/claim");
    let login = browser.get("/login").await;
    assert_eq!(location(&login), "/claim");

    let page = browser.get("/claim").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    assert_clean_html(&page.text().await.expect("html"));

    let code = server.claim_code();
    let mismatch = form(
        &browser,
        "/claim",
        &[
            ("code", &code),
            ("password", PASSWORD),
            ("password_confirm", "something else entirely"),
        ],
    )
    .await;
    assert_eq!(mismatch.status(), 422);
    let html = mismatch.text().await.expect("html");
    assert!(html.contains("do not match"), "{html}");
    // Issue 12, defect 9: the 28-character code is kept; the passwords are not.
    assert!(html.contains(&format!("value=\"{code}\"")), "{html}");
    assert!(!html.contains("something else entirely"));

    let wrong = form(
        &browser,
        "/claim",
        &[
            ("code", "0000-0000-0000-0000-0000-0000-0000"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 403);
    assert!(
        wrong
            .text()
            .await
            .expect("html")
            .contains("claim code is wrong")
    );

    let claimed = form(
        &browser,
        "/claim",
        &[
            ("code", &code),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(claimed.status(), 303);
    // Issue 12, defect 4: a new owner lands on the setup, not on an empty dashboard.
    assert_eq!(location(&claimed), "/setup");
    server.secret(&browser.session_token().expect("token"));

    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status(), 200);
    let html = dashboard.text().await.expect("html");
    assert_clean_html(&html);
    assert!(html.contains("Stopped"), "{html}");
    let settings = browser.get("/settings").await.text().await.expect("html");
    assert_clean_html(&settings);
    assert!(settings.contains("this device"), "{settings}");
    assert!(settings.contains("Log out everywhere else"));
    let setup = browser.get("/setup").await.text().await.expect("html");
    assert_clean_html(&setup);
    assert!(setup.contains("Model provider"));

    let out = form(&browser, "/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/login");
    assert_eq!(location(&browser.get("/").await), "/login");

    let login_page = browser.get("/login?next=/openclaw/").await;
    let html = login_page.text().await.expect("html");
    assert_clean_html(&html);
    assert!(html.contains("value=\"/openclaw/\""));

    let wrong = form(
        &browser,
        "/login",
        &[("password", "not the password!"), ("next", "/")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.expect("html").contains("not correct"));

    let ok = form(
        &browser,
        "/login",
        &[("password", PASSWORD), ("next", "//evil.example/")],
    )
    .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(location(&ok), "/setup", "the first run is not done yet");
    server.secret(&browser.session_token().expect("token"));
}

/// Issue 12, defect 4: until the gateway has run once the dashboard says what to do next,
/// buttons that cannot work are disabled with the reason, and an action that redirects
/// says what happened.
#[tokio::test]
async fn the_first_run_is_guided() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let html = owner.get("/").await.text().await.expect("html");
    assert_clean_html(&html);
    assert!(html.contains("Next: install OpenClaw"), "{html}");
    assert!(html.contains("href=\"/setup#step-runtime\""), "{html}");
    let button = |label: &str| {
        let end = html
            .find(&format!(">{label}</"))
            .unwrap_or_else(|| panic!("no {label}"));
        let start = html[..end].rfind('<').expect("tag");
        html[start..end].to_string()
    };
    for label in ["Stop", "Restart", "Link WhatsApp", "Start"] {
        assert!(
            button(label).contains("disabled"),
            "{label}: {}",
            button(label)
        );
    }
    // Nothing to start before OpenClaw is installed and a provider saved.
    assert!(button("Start").contains("disabled"), "{}", button("Start"));
    assert!(
        html.contains("Start works once OpenClaw is installed and a provider is saved"),
        "{html}"
    );
    assert!(button("Open Control UI").contains("aria-disabled=\"true\""));
    assert!(
        html.contains("Stop and Restart work while it runs."),
        "{html}"
    );
    assert!(html.contains("need the gateway running"), "{html}");

    let setup = owner.get("/setup").await.text().await.expect("html");
    let test = setup.find("data-test-key").expect("test key button");
    let tag = &setup[setup[..test].rfind('<').expect("tag")..test + 80];
    assert!(tag.contains("disabled"), "{tag}");
    assert!(setup.contains("Test key works once a provider and its key are saved."));

    let stopped = form(&owner, "/gateway/stop", &[]).await;
    assert_eq!(stopped.status(), 303);
    assert_eq!(location(&stopped), "/?done=stop");
    let html = owner.get("/?done=stop").await.text().await.expect("html");
    assert!(html.contains("Gateway stopping…"), "{html}");
    // Only the listed words are ever shown; the query never carries text onto the page.
    let html = owner
        .get("/?done=%3Cb%3Ehi")
        .await
        .text()
        .await
        .expect("html");
    assert!(!html.contains("<b>hi"), "{html}");
    assert!(!html.contains("class=\"ok\""), "{html}");
}

#[tokio::test]
async fn revoking_from_the_dashboard_ends_the_other_session() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let other = server.login().await;
    let me: serde_json::Value = other.json("/api/auth/me").await;
    let id = me["session"]["id"].as_str().expect("id").to_string();
    let html = owner.get("/settings").await.text().await.expect("html");
    assert!(html.contains(&format!("/sessions/{id}/revoke")));
    let response = form(&owner, &format!("/sessions/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(other.get("/api/auth/me").await.status(), 401);
}

#[tokio::test]
async fn browsers_get_readable_error_pages() {
    let server = TestServer::start();
    let response = server
        .bare_client()
        .get(server.url("/no-such-page"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
    let html = response.text().await.expect("html");
    assert!(html.contains("Page not found"), "{html}");
    assert_clean_html(&html);

    let css = server.client().get("/static/app.css").await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/css")
    );
}
