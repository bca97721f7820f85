//! The instance claimed through the OpenID Connect issuer (the claim code and a password
//! first, then the identity), the issuer confirming one sensitive action at a time (a step-up:
//! it must have the owner sign in again), and the password turned off with only the identity
//! left — against the real issuer of `oidc.rs`.

use serde_json::json;

use crate::harness::{Client, PASSWORD, TestServer, assert_problem};
use crate::oidc::{TestIdp, server_and_issuer};

/// The link a "Continue to …" page follows, as the browser reads it.
fn continue_link(page: &str) -> String {
    let start = page
        .find("data-follow")
        .and_then(|at| page[..at].rfind("href=\""))
        .unwrap_or_else(|| panic!("no link to follow in {page}"));
    let rest = &page[start + "href=\"".len()..];
    unescape(&rest[..rest.find('"').expect("closing quote")])
}

fn unescape(html: &str) -> String {
    html.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
}

/// Follows a "Continue to …" page through the issuer, signed in there as `subject`: the
/// answer of clawhost's callback.
async fn through_issuer(
    server: &TestServer,
    idp: &TestIdp,
    browser: &Client,
    page: reqwest::Response,
    subject: &str,
) -> reqwest::Response {
    assert_eq!(page.status(), 200, "the page continues to the issuer");
    let authorize = continue_link(&page.text().await.expect("page"));
    assert!(authorize.starts_with(&idp.issuer), "{authorize}");
    let back = idp.sign_in(&authorize, subject).await;
    let path = back
        .strip_prefix(&server.origin)
        .unwrap_or_else(|| panic!("{back} is not on clawhost"));
    browser.get_html(path).await
}

/// Claims `server` through the issuer as `subject`, with [`PASSWORD`]: the browser and the
/// callback's answer.
async fn claim_as(
    server: &TestServer,
    idp: &TestIdp,
    subject: &str,
) -> (Client, reqwest::Response) {
    let browser = server.client();
    let code = server.claim_code();
    let fields = [
        ("code", code.as_str()),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let started = browser.post_form("/auth/oidc/claim", &fields).await;
    let answer = through_issuer(server, idp, &browser, started, subject).await;
    if let Some(token) = browser.session_token() {
        server.secret(&token);
    }
    (browser, answer)
}

/// Signs a new browser in at the issuer as the owner (a session that is not a step-up).
async fn signed_in_at_issuer(server: &TestServer, idp: &TestIdp) -> Client {
    let browser = server.client();
    let response = browser.get_html("/auth/oidc/start").await;
    let authorize = response.headers()["location"].to_str().expect("ascii");
    let back = idp.sign_in(authorize, "owner-sub").await;
    let path = back.strip_prefix(&server.origin).expect("on clawhost");
    assert_eq!(browser.get_html(path).await.status(), 303);
    server.secret(&browser.session_token().expect("signed in"));
    browser
}

#[tokio::test]
async fn the_instance_is_claimed_with_an_identity_and_a_password() {
    let (server, idp, _dir) = server_and_issuer(vec![]);
    let page = server.client().page_text("/claim").await;
    assert!(page.contains("Claim with Test IdP"), "{page}");

    // A wrong code, or passwords that differ, go nowhere near the issuer.
    let browser = server.client();
    let wrong = [
        ("code", "AAAA-BBBB"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let refused = browser.post_form("/auth/oidc/claim", &wrong).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .expect("page")
            .contains("Claim this instance")
    );
    let code = server.claim_code();
    let differ = [
        ("code", code.as_str()),
        ("password", PASSWORD),
        ("password_confirm", "something else entirely"),
    ];
    let refused = browser.post_form("/auth/oidc/claim", &differ).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(idp.token_requests().await["token_requests"], 0);

    // An identity whose email the issuer has not verified claims nothing; the code stays.
    let (_, unverified) = claim_as(&server, &idp, "unverified-sub").await;
    assert_eq!(unverified.status(), 422);
    assert_eq!(
        server.client().json("/api/auth/instance").await["locked"],
        false
    );

    let (owner, claimed) = claim_as(&server, &idp, "owner-sub").await;
    assert_eq!(claimed.status(), 303, "{:?}", claimed.text().await);
    assert_eq!(owner.get("/api/auth/me").await.status(), 200);
    let status = owner.json("/api/auth/oidc").await;
    assert_eq!(status["linked"]["subject"], "owner-sub");
    let events = owner.events().await;
    assert!(
        events.iter().any(|e| e["kind"] == "claim"
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("owner@example.test"))),
        "{events:?}"
    );
    // The password chosen with it signs in too, and the identity does.
    server.login().await;
    signed_in_at_issuer(&server, &idp).await;
    // A second claim through the issuer finds the instance claimed.
    let again = server.client().post_form("/auth/oidc/claim", &wrong).await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/login");
}

/// The nonce of a "Confirmed" page, for `action`.
fn confirmed_nonce(page: &str, action: &str) -> String {
    assert!(page.contains("Test IdP confirmed it is you"), "{page}");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    let at = page.find("value=\"done:").expect("the issuer's proof") + "value=\"done:".len();
    unescape(&page[at..at + page[at..].find('"').expect("quote")])
}

#[tokio::test]
async fn the_issuer_confirms_one_action_once_and_only_when_it_had_the_owner_sign_in_again() {
    let (server, idp, _dir) =
        server_and_issuer(vec![("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "1s".into())]);
    let (first, answer) = claim_as(&server, &idp, "owner-sub").await;
    assert_eq!(answer.status(), 303);
    // A session opened at the issuer is no step-up: sensitive actions ask.
    let owner = signed_in_at_issuer(&server, &idp).await;
    let revoke = "/sessions/revoke-others";
    let asked = owner.post_form(revoke, &[]).await;
    assert_eq!(asked.status(), 403);
    assert!(
        asked
            .text()
            .await
            .expect("page")
            .contains("Confirm with Test IdP")
    );

    // Confirming goes to the issuer, asked to have the owner sign in again.
    let start = [("reauth_issuer", "start")];
    let started = owner.post_form(revoke, &start).await;
    assert_eq!(started.status(), 200);
    let authorize = continue_link(&started.text().await.expect("page"));
    assert!(
        authorize.contains("prompt=login") && authorize.contains("max_age=0"),
        "{authorize}"
    );
    // An issuer that did not have them sign in again (an old auth_time), or says nothing of
    // it, confirms nothing; nor does someone else there, who learns nobody's name.
    for mode in ["stale-auth-time", "no-auth-time"] {
        idp.tamper(mode).await;
        let started = owner.post_form(revoke, &start).await;
        let refused = through_issuer(&server, &idp, &owner, started, "owner-sub").await;
        assert_eq!(refused.status(), 400, "{mode}");
        let text = refused.text().await.expect("page");
        assert!(
            text.contains("did not ask you to sign in again") || text.contains("auth_time"),
            "{mode}: {text}"
        );
    }
    let started = owner.post_form(revoke, &start).await;
    let stranger = through_issuer(&server, &idp, &owner, started, "stranger-sub").await;
    assert_eq!(stranger.status(), 403);
    assert!(
        !stranger
            .text()
            .await
            .expect("page")
            .contains("owner@example.test")
    );

    // Review of issue 15: the confirmation serves the one form it was for. Another action
    // with its nonce is refused (and the confirmation is spent).
    let started = owner.post_form(revoke, &start).await;
    let confirmed = through_issuer(&server, &idp, &owner, started, "owner-sub").await;
    assert_eq!(confirmed.status(), 200);
    let nonce = confirmed_nonce(&confirmed.text().await.expect("page"), revoke);
    let elsewhere = format!("done:{nonce}");
    let other = [("enabled", "false"), ("reauth_issuer", elsewhere.as_str())];
    let refused = owner.post_form("/settings/password-sign-in", &other).await;
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert_eq!(
        server
            .client()
            .post("/api/auth/login", &json!({"password": PASSWORD}))
            .await
            .status(),
        200
    );

    // Its own form goes ahead, once.
    let started = owner.post_form(revoke, &start).await;
    let confirmed = through_issuer(&server, &idp, &owner, started, "owner-sub").await;
    let nonce = confirmed_nonce(&confirmed.text().await.expect("page"), revoke);
    let done = format!("done:{nonce}");
    let revoked = owner
        .post_form(revoke, &[("reauth_issuer", done.as_str())])
        .await;
    assert_eq!(revoked.status(), 303, "{:?}", revoked.text().await);
    assert_eq!(first.get("/api/auth/me").await.status(), 401, "revoked");
    let replay = owner
        .post_form(revoke, &[("reauth_issuer", done.as_str())])
        .await;
    assert!(
        replay.status().is_client_error(),
        "a spent confirmation: {}",
        replay.status()
    );
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "reauthenticated"), "{kinds:?}");
}

#[tokio::test]
async fn with_only_the_identity_the_password_no_longer_signs_in_but_still_confirms() {
    let (server, idp, _dir) =
        server_and_issuer(vec![("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "1s".into())]);
    let (_, claimed) = claim_as(&server, &idp, "owner-sub").await;
    assert_eq!(claimed.status(), 303);
    let owner = signed_in_at_issuer(&server, &idp).await;
    let with_password = |fields: &[(&'static str, &'static str)]| {
        let mut all = fields.to_vec();
        all.push(("reauth_password", PASSWORD));
        all
    };
    let off = owner
        .post_form(
            "/settings/password-sign-in",
            &with_password(&[("enabled", "false")]),
        )
        .await;
    assert_eq!(off.status(), 303, "{:?}", off.text().await);
    let refused = server
        .client()
        .post("/api/auth/login", &json!({"password": PASSWORD}))
        .await;
    assert_problem(refused, 401).await;
    assert!(
        !server
            .client()
            .page_text("/login")
            .await
            .contains("id=\"password\""),
        "the sign-in page offers no password"
    );
    // The password still confirms: Google, say, cannot ask a signed-in person again.
    let revoked = owner
        .post_form("/sessions/revoke-others", &with_password(&[]))
        .await;
    assert_eq!(revoked.status(), 303, "{:?}", revoked.text().await);
    // The identity is now the last way in: it stays.
    let unlink = owner
        .post_form("/settings/oidc/unlink", &with_password(&[]))
        .await;
    assert_eq!(unlink.status(), 409);
    assert_eq!(
        owner.json("/api/auth/oidc").await["linked"]["subject"],
        "owner-sub"
    );
    let kinds = owner.event_kinds().await;
    assert!(
        kinds.iter().any(|k| k == "password_sign_in_off"),
        "{kinds:?}"
    );
}
