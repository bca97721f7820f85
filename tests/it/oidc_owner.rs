//! The instance claimed through the OpenID Connect issuer (claim code first, then the
//! identity), the issuer confirming sensitive actions (a step-up: it must have the owner
//! sign in again), and the password turned off with only the identity left — against the
//! real issuer of `oidc.rs`.

use serde_json::{Value, json};

use crate::harness::{Client, PASSWORD, TestServer, assert_problem};
use crate::oidc::{TestIdp, server_and_issuer};

/// The link a "Continue to …" page follows, as the browser reads it.
fn continue_link(page: &str) -> String {
    let start = page
        .find("data-follow")
        .and_then(|at| page[..at].rfind("href=\""))
        .unwrap_or_else(|| panic!("no link to follow in {page}"));
    let rest = &page[start + "href=\"".len()..];
    let url = &rest[..rest.find('"').expect("closing quote")];
    url.replace("&amp;", "&")
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

/// Claims `server` through the issuer as `subject`: the browser and the callback's answer.
async fn claim_as(
    server: &TestServer,
    idp: &TestIdp,
    subject: &str,
) -> (Client, reqwest::Response) {
    let browser = server.client();
    let code = server.claim_code();
    let started = browser
        .post_form("/auth/oidc/claim", &[("code", &code), ("password", "")])
        .await;
    let answer = through_issuer(server, idp, &browser, started, subject).await;
    if let Some(token) = browser.session_token() {
        server.secret(&token);
    }
    (browser, answer)
}

#[tokio::test]
async fn the_instance_is_claimed_with_an_identity_and_no_password() {
    let (server, idp, _dir) = server_and_issuer(vec![]);
    let page = server.client().page_text("/claim").await;
    assert!(page.contains("Claim with Test IdP"), "{page}");

    // A wrong code goes nowhere near the issuer.
    let browser = server.client();
    let wrong = browser
        .post_form("/auth/oidc/claim", &[("code", "AAAA-BBBB")])
        .await;
    assert_eq!(wrong.status(), 403);
    assert!(
        wrong
            .text()
            .await
            .expect("page")
            .contains("Claim this instance")
    );
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
    let claim = owner.events().await;
    assert!(
        claim.iter().any(|e| e["kind"] == "claim"
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("owner@example.test"))),
        "{claim:?}"
    );
    // No password signs in: there is none.
    let refused = server
        .client()
        .post("/api/auth/login", &json!({"password": PASSWORD}))
        .await;
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert!(
        !server
            .client()
            .page_text("/login")
            .await
            .contains("id=\"password\""),
        "the sign-in page offers no password"
    );
    // A second claim through the issuer finds the instance claimed.
    let again = server
        .client()
        .post_form("/auth/oidc/claim", &[("code", "AAAA-BBBB")])
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], "/login");
    // The identity signs in again.
    let (authorize, again) = start_sign_in(&server).await;
    let back = idp.sign_in(&authorize, "owner-sub").await;
    let path = back.strip_prefix(&server.origin).expect("on clawhost");
    assert_eq!(again.get_html(path).await.status(), 303);
    server.secret(&again.session_token().expect("signed in"));

    // The claim session may add one way in with the claim's proof: a password.
    let settings = owner.page_text("/settings").await;
    assert!(settings.contains("You have no password"), "{settings}");
    assert!(settings.contains("name=\"reauth_issuer\" value=\"done\""));
    let set = owner
        .post_form(
            "/settings/password/set",
            &[("reauth_issuer", "done"), ("new_password", PASSWORD)],
        )
        .await;
    assert_eq!(set.status(), 303, "{:?}", set.text().await);
    server.login().await;
    // That proof is spent: another way in needs a new one.
    let spent = owner
        .post(
            "/api/auth/passkeys/register/start",
            &json!({"name": "Phone", "issuer": true}),
        )
        .await;
    assert_problem(spent, 422).await;
}

/// Starts a sign-in at the issuer in a new browser: the authorization URL and the browser.
async fn start_sign_in(server: &TestServer) -> (String, Client) {
    let browser = server.client();
    let response = browser.get_html("/auth/oidc/start").await;
    assert_eq!(response.status(), 302);
    let url = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (url, browser)
}

#[tokio::test]
async fn the_issuer_confirms_the_owner_only_when_it_had_them_sign_in_again() {
    let (server, idp, _dir) =
        server_and_issuer(vec![("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "1s".into())]);
    let (owner, claimed) = claim_as(&server, &idp, "owner-sub").await;
    assert_eq!(claimed.status(), 303);
    let turn_off = [("enabled", "false")];

    // Turning the password off with only the identity left goes to the issuer first, which
    // is asked to have the owner sign in again: the claim's own proof is not enough.
    let claim_proof = owner
        .post_form(
            "/settings/password-sign-in",
            &[("enabled", "false"), ("reauth_issuer", "done")],
        )
        .await;
    assert_eq!(claim_proof.status(), 200, "on to the issuer");
    assert!(continue_link(&claim_proof.text().await.expect("page")).contains("prompt=login"));
    let set = owner
        .post_form(
            "/settings/password/set",
            &[("reauth_issuer", "done"), ("new_password", PASSWORD)],
        )
        .await;
    assert_eq!(set.status(), 303);
    let started = owner
        .post_form("/settings/password-sign-in", &turn_off)
        .await;
    assert_eq!(started.status(), 200);
    let page = started.text().await.expect("page");
    let authorize = continue_link(&page);
    assert!(
        authorize.contains("prompt=login") && authorize.contains("max_age=0"),
        "{authorize}"
    );

    // An issuer that did not have them sign in again (an old auth_time), or says nothing of
    // it, confirms nothing.
    for mode in ["stale-auth-time", "no-auth-time"] {
        idp.tamper(mode).await;
        let started = owner
            .post_form("/settings/password-sign-in", &turn_off)
            .await;
        let refused = through_issuer(&server, &idp, &owner, started, "owner-sub").await;
        assert_eq!(refused.status(), 400, "{mode}");
        let text = refused.text().await.expect("page");
        assert!(
            text.contains("did not ask you to sign in again") || text.contains("auth_time"),
            "{mode}: {text}"
        );
    }
    // Someone else at the issuer confirms nothing either, and names nobody.
    let started = owner
        .post_form("/settings/password-sign-in", &turn_off)
        .await;
    let stranger = through_issuer(&server, &idp, &owner, started, "stranger-sub").await;
    assert_eq!(stranger.status(), 403);
    let text = stranger.text().await.expect("page");
    assert!(!text.contains("owner@example.test"), "{text}");
    server.login().await;

    // The owner, signed in again there: the form they posted comes back to post again.
    let started = owner
        .post_form("/settings/password-sign-in", &turn_off)
        .await;
    let confirmed = through_issuer(&server, &idp, &owner, started, "owner-sub").await;
    assert_eq!(confirmed.status(), 200);
    let page = confirmed.text().await.expect("page");
    assert!(page.contains("Test IdP confirmed it is you"), "{page}");
    assert!(
        page.contains("action=\"/settings/password-sign-in\""),
        "{page}"
    );
    assert!(page.contains("name=\"enabled\" value=\"false\""), "{page}");
    let done = [("enabled", "false"), ("reauth_issuer", "done")];
    let off = owner.post_form("/settings/password-sign-in", &done).await;
    assert_eq!(off.status(), 303, "{:?}", off.text().await);
    let refused = server
        .client()
        .post("/api/auth/login", &json!({"password": PASSWORD}))
        .await;
    assert_problem(refused, 401).await;
    let kinds = owner.event_kinds().await;
    assert!(
        kinds.iter().any(|k| k == "password_sign_in_off"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "reauthenticated"), "{kinds:?}");

    // The identity is now the last way in: it stays.
    let unlink = owner.delete("/api/auth/oidc/link").await;
    let problem: Value = assert_problem(unlink, 409).await;
    assert!(problem["detail"].is_string());
    // The confirmation served once: the same form again is asked for a new one.
    let replay = owner.post_form("/settings/password-sign-in", &done).await;
    assert_eq!(
        replay.status(),
        200,
        "a spent confirmation: on to the issuer again"
    );
    assert!(continue_link(&replay.text().await.expect("page")).starts_with(&idp.issuer));
}
