//! Signing in at an OpenID Connect issuer, against a real one: `oidc-provider` (npm) started
//! by the test (`e2e/idp.mjs`) on loopback with its own keys. The browser's round trip is
//! followed by hand: clawhost's client for clawhost, another one (its own cookies) for the
//! issuer. The Chromium test through the issuer's login page is in `browser.rs`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;

use reqwest::cookie::Jar;
use serde_json::{Value, json};

use crate::harness::{
    Client, Options, PASSWORD, TestServer, assert_problem, free_port, http_builder,
};

pub const CLIENT_ID: &str = "clawhost-test";
const CLIENT_SECRET: &str = "test-client-secret-0123456789abcdef";

/// The issuer, until dropped.
pub struct TestIdp {
    pub issuer: String,
    child: Child,
    /// Held open: the issuer exits when it closes.
    _stdin: ChildStdin,
    /// For the test controls.
    http: reqwest::Client,
}

impl TestIdp {
    /// Starts the issuer for a clawhost at `public_url`.
    pub fn start(public_url: &str) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("e2e/idp.mjs");
        assert!(
            script.with_file_name("node_modules/oidc-provider").is_dir(),
            "the OpenID Connect tests need e2e/node_modules: run scripts/test, which installs them"
        );
        let mut child = Command::new("node")
            .arg(script)
            .env("IDP_CLIENT_ID", CLIENT_ID)
            .env("IDP_CLIENT_SECRET", CLIENT_SECRET)
            .env(
                "IDP_REDIRECT_URI",
                format!("{public_url}/auth/oidc/callback"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node e2e/idp.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the issuer's first line");
        let started: Value = serde_json::from_str(&line).expect("{\"issuer\"}");
        Self {
            issuer: started["issuer"].as_str().expect("issuer").to_owned(),
            child,
            _stdin: stdin,
            http: idp_browser(),
        }
    }

    /// The settings that make a clawhost use this issuer (the client secret in a file).
    pub fn settings(&self, dir: &std::path::Path) -> Vec<(String, String)> {
        let secret = dir.join("oidc-client-secret");
        std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).expect("secret file");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        vec![
            ("CLAWHOST_AUTH_OIDC_ISSUER".into(), self.issuer.clone()),
            ("CLAWHOST_AUTH_OIDC_CLIENT_ID".into(), CLIENT_ID.into()),
            (
                "CLAWHOST_AUTH_OIDC_CLIENT_SECRET_FILE".into(),
                secret.display().to_string(),
            ),
            ("CLAWHOST_AUTH_OIDC_DISPLAY_NAME".into(), "Test IdP".into()),
        ]
    }

    async fn control(&self, path: &str) {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .send()
            .await
            .expect("control");
        assert_eq!(response.status(), 204, "{path}");
    }

    /// The next ID token is wrong in this one way (`e2e/idp.mjs` lists the modes).
    pub async fn tamper(&self, mode: &str) {
        self.control(&format!("/_test/tamper?mode={mode}")).await;
    }

    pub async fn token_requests(&self) -> Value {
        let response = self
            .http
            .get(format!("{}/_test/logins", self.issuer))
            .send()
            .await
            .expect("logins");
        response.json().await.expect("json")
    }

    /// Signs in at the issuer as `subject` from its authorization URL, in a browser with no
    /// session there yet, and returns where it sends the browser back to (clawhost's
    /// callback, with the code).
    pub async fn sign_in(&self, authorize_url: &str, subject: &str) -> String {
        self.control(&format!("/_test/auto-login?sub={subject}"))
            .await;
        let browser = idp_browser();
        let mut url = authorize_url.to_owned();
        for _ in 0..10 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let response = browser.get(&url).send().await.expect("issuer");
            assert!(
                response.status().is_redirection(),
                "the issuer answered {} at {url}",
                response.status()
            );
            let location = response.headers()["location"].to_str().expect("ascii");
            url = if location.starts_with('/') {
                format!("{}{location}", self.issuer)
            } else {
                location.to_owned()
            };
        }
        panic!("the issuer kept redirecting");
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A browser at the issuer: its own cookies, no redirects followed.
fn idp_browser() -> reqwest::Client {
    http_builder()
        .cookie_provider(Arc::new(Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A clawhost at `http://localhost:<port>` and its issuer.
pub fn server_and_issuer(env: Vec<(String, String)>) -> (TestServer, TestIdp, tempfile::TempDir) {
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let idp = TestIdp::start(&public_url);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = idp.settings(dir.path());
    settings.extend(env);
    let server = TestServer::start_with(Options {
        env: settings,
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(public_url),
        ..Options::default()
    });
    (server, idp, dir)
}

/// `Location` of a redirect, as a path on clawhost when it points there.
fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// The path and query of a URL on clawhost.
fn on_clawhost(url: &str, server: &TestServer) -> String {
    url.strip_prefix(&server.origin)
        .unwrap_or_else(|| panic!("{url} is not on {}", server.origin))
        .to_owned()
}

/// Starts a sign-in in `browser`: the issuer's authorization URL.
async fn begin_sign_in(browser: &Client) -> String {
    let response = browser.get_html("/auth/oidc/start").await;
    assert_eq!(response.status(), 302, "start");
    location(&response)
}

/// Links `subject` to the owner signed in with `owner`; the callback's answer.
pub async fn link(
    server: &TestServer,
    idp: &TestIdp,
    owner: &Client,
    subject: &str,
) -> reqwest::Response {
    let started = owner
        .post("/api/auth/oidc/link", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(started.status(), 200, "link");
    let started: Value = started.json().await.expect("json");
    let authorize = started["authorize_url"].as_str().expect("authorize_url");
    let back = idp.sign_in(authorize, subject).await;
    owner.get_html(&on_clawhost(&back, server)).await
}

/// Signs in a new browser at the issuer as `subject`: the browser and the callback's answer.
async fn sign_in_as(
    server: &TestServer,
    idp: &TestIdp,
    subject: &str,
) -> (Client, reqwest::Response) {
    let browser = server.client();
    let authorize = begin_sign_in(&browser).await;
    let back = idp.sign_in(&authorize, subject).await;
    let response = browser.get_html(&on_clawhost(&back, server)).await;
    (browser, response)
}

#[tokio::test]
async fn the_owner_links_an_identity_and_signs_in_with_it() {
    let (server, idp, _dir) = server_and_issuer(vec![]);
    let owner = server.claimed().await;
    let page = server.client().page_text("/login").await;
    assert!(page.contains("Sign in with Test IdP"), "{page}");
    let status = owner.json("/api/auth/oidc").await;
    assert_eq!(status["configured"], true);
    assert_eq!(status["display_name"], "Test IdP");
    assert_eq!(status["linked"], Value::Null);

    // Before linking, the owner's own identity at the issuer signs nobody in.
    let (_, refused) = sign_in_as(&server, &idp, "owner-sub").await;
    assert_eq!(refused.status(), 403);

    let linked = link(&server, &idp, &owner, "owner-sub").await;
    assert_eq!(linked.status(), 303, "{:?}", linked.text().await);
    assert_eq!(location(&linked), "/settings#identity");
    let status = owner.json("/api/auth/oidc").await;
    assert_eq!(status["linked"]["subject"], "owner-sub");
    assert_eq!(status["linked"]["email"], "owner@example.test");
    assert_eq!(status["linked"]["issuer"], idp.issuer.as_str());
    let settings = owner.page_text("/settings").await;
    assert!(
        settings.contains("owner@example.test"),
        "the settings page shows the identity"
    );

    // Signing in at the issuer now opens a session, with a fresh session id.
    let (browser, answer) = sign_in_as(&server, &idp, "owner-sub").await;
    assert_eq!(answer.status(), 303);
    let cookies: Vec<&str> = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("clawhost_session=") && !c.starts_with("clawhost_session=;"))
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("clawhost_oidc=;")),
        "the flow's cookie goes: {cookies:?}"
    );
    server.secret(&browser.session_token().expect("session"));
    let me = browser.get("/api/auth/me").await;
    assert_eq!(me.status(), 200);
    assert_ne!(browser.session_token(), owner.session_token());
    // It opens no sensitive action: an issuer may sign a known browser in without asking,
    // so script in the Control UI could otherwise get a fresh session by navigating.
    let stale = browser.post("/api/auth/oidc/link", &json!({})).await;
    let problem = assert_problem(stale, 403).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("reauthentication-required"))
    );

    // Someone else at the same issuer: a 403 page that names nobody, and an event.
    let (stranger, answer) = sign_in_as(&server, &idp, "stranger-sub").await;
    assert_eq!(answer.status(), 403);
    let text = answer.text().await.expect("page");
    assert!(
        !text.contains("owner@example.test") && !text.contains("owner-sub"),
        "{text}"
    );
    assert_eq!(stranger.session_token(), None);
    let kinds = owner.events().await;
    assert!(kinds.iter().any(|e| e["kind"] == "login_oidc"), "{kinds:?}");
    assert!(
        kinds.iter().any(|e| e["kind"] == "identity_linked"),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|e| e["kind"] == "login_failed"
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("not linked"))),
        "{kinds:?}"
    );

    // An identity whose email the issuer has not verified is not linked.
    let unverified = link(&server, &idp, &owner, "unverified-sub").await;
    assert_eq!(unverified.status(), 422);
    assert!(
        unverified
            .text()
            .await
            .expect("page")
            .contains("not verified")
    );
    let status = owner.json("/api/auth/oidc").await;
    assert_eq!(
        status["linked"]["subject"], "owner-sub",
        "the linked identity stays"
    );

    // Unlinked, the identity signs nobody in again; unlinking twice is a 404.
    assert_eq!(owner.delete("/api/auth/oidc/link").await.status(), 204);
    assert_problem(owner.delete("/api/auth/oidc/link").await, 404).await;
    let (_, refused) = sign_in_as(&server, &idp, "owner-sub").await;
    assert_eq!(refused.status(), 403);
    // The password still signs in.
    server.login().await;
}

#[tokio::test]
async fn linking_needs_the_password_in_the_request_and_the_session_that_began_it() {
    let (server, idp, _dir) =
        server_and_issuer(vec![("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "1s".into())]);
    let owner = server.claimed().await;
    // Review of issue 15: even fresh, a session alone does not add a way in.
    let fresh_alone = owner.post("/api/auth/oidc/link", &json!({})).await;
    assert_problem(fresh_alone, 403).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let stale = owner.post("/api/auth/oidc/link", &json!({})).await;
    let problem = assert_problem(stale, 403).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("reauthentication-required"))
    );
    let page = owner.post_form("/settings/oidc/link", &[]).await;
    assert_eq!(page.status(), 403, "the page asks for the password");
    let confirmed = owner
        .post_form("/settings/oidc/link", &[("reauth_password", PASSWORD)])
        .await;
    assert_eq!(confirmed.status(), 200);
    let page = confirmed.text().await.expect("page");
    assert!(
        page.contains("Continue to Test IdP") && page.contains(&idp.issuer),
        "{page}"
    );

    // A link begun in one session and finished in another links nothing.
    let started: Value = owner
        .post("/api/auth/oidc/link", &json!({"password": PASSWORD}))
        .await
        .json()
        .await
        .expect("json");
    let back = idp
        .sign_in(started["authorize_url"].as_str().expect("url"), "owner-sub")
        .await;
    let other = server.login().await;
    // The other browser has no flow cookie of this link: nothing under way there.
    let answer = other.get_html(&on_clawhost(&back, &server)).await;
    assert_eq!(answer.status(), 400);
    let status = owner.json("/api/auth/oidc").await;
    assert_eq!(status["linked"], Value::Null);
}

#[tokio::test]
async fn every_wrong_answer_from_the_issuer_is_refused() {
    let (server, idp, _dir) = server_and_issuer(vec![]);
    let owner = server.claimed().await;
    assert_eq!(link(&server, &idp, &owner, "owner-sub").await.status(), 303);

    let refused = |answer: reqwest::Response, why: &'static str| async move {
        assert_eq!(answer.status(), 400, "{why}");
        let cookies: Vec<String> = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect();
        assert!(
            !cookies.iter().any(|c| c.starts_with("clawhost_session=") && !c.starts_with("clawhost_session=;")),
            "{why}: no session"
        );
        answer.text().await.expect("page")
    };

    // A wrong state; the flow is used up by the try, so the right one no longer works either.
    let browser = server.client();
    let back = idp
        .sign_in(&begin_sign_in(&browser).await, "owner-sub")
        .await;
    let path = on_clawhost(&back, &server);
    let (before, state) = path.split_once("state=").expect("state");
    let state_end = state.find('&').unwrap_or(state.len());
    let wrong = format!("{before}state=x{}", &state[state_end..]);
    refused(browser.get_html(&wrong).await, "wrong state").await;
    refused(browser.get_html(&path).await, "the flow is gone").await;

    // The same callback in a browser that did not begin it.
    let browser = server.client();
    let back = idp
        .sign_in(&begin_sign_in(&browser).await, "owner-sub")
        .await;
    let path = on_clawhost(&back, &server);
    refused(server.client().get_html(&path).await, "no flow cookie").await;
    // Shown without its cookie, the state used its flow up: the code cannot go back to the
    // browser that began it.
    refused(browser.get_html(&path).await, "the flow is gone").await;

    // A code used once already: the issuer refuses it (the flow around it is a new one).
    let browser = server.client();
    let back = idp
        .sign_in(&begin_sign_in(&browser).await, "owner-sub")
        .await;
    let used = on_clawhost(&back, &server);
    assert_eq!(
        browser.get_html(&used).await.status(),
        303,
        "signed in once"
    );
    let code = used
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("code="))
        .expect("code")
        .to_owned();
    let again = server.client();
    let fresh = idp.sign_in(&begin_sign_in(&again).await, "owner-sub").await;
    let fresh = on_clawhost(&fresh, &server);
    let fresh_code = fresh
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("code="))
        .expect("code");
    let replayed = fresh.replace(fresh_code, &code);
    let page = refused(again.get_html(&replayed).await, "replayed code").await;
    assert!(page.contains("invalid_grant"), "{page}");
    let logins = idp.token_requests().await;
    assert_eq!(logins["last_error"]["error"], "invalid_grant", "{logins}");

    // ID tokens wrong in one way each, signed with the issuer's own key but the last.
    for (mode, said) in [
        ("wrong-nonce", "once"),
        ("other-audience", "udience"),
        ("expired", "xpired"),
        ("wrong-signature", "ignature"),
    ] {
        idp.tamper(mode).await;
        let browser = server.client();
        let back = idp
            .sign_in(&begin_sign_in(&browser).await, "owner-sub")
            .await;
        let page = refused(browser.get_html(&on_clawhost(&back, &server)).await, mode).await;
        assert!(page.contains(said), "{mode}: {page}");
    }

    // An answer naming another issuer (RFC 9207), and one saying no.
    let browser = server.client();
    let back = idp
        .sign_in(&begin_sign_in(&browser).await, "owner-sub")
        .await;
    let path = on_clawhost(&back, &server);
    let other_issuer = path.replace("iss=", "iss=https%3A%2F%2Fevil.example&was=");
    refused(browser.get_html(&other_issuer).await, "another issuer").await;
    let browser = server.client();
    let authorize = begin_sign_in(&browser).await;
    let state = authorize
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("state="))
        .expect("state");
    let denied = browser
        .get_html(&format!(
            "/auth/oidc/callback?error=access_denied&error_description=The+person+cancelled&state={state}"
        ))
        .await;
    assert_eq!(denied.status(), 403);
    assert!(
        denied
            .text()
            .await
            .expect("page")
            .contains("The person cancelled")
    );

    // Each refusal is a security event with its reason; nobody was signed in by any.
    let failures: Vec<String> = owner
        .events()
        .await
        .iter()
        .filter(|e| e["kind"] == "login_failed")
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect();
    // The answers to no flow under way (wrong state, used, no cookie) leave no event.
    assert!(failures.len() >= 7, "{failures:?}");
    assert!(
        failures.iter().all(|d| d.starts_with("OpenID Connect: ")),
        "{failures:?}"
    );
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_leaves_the_password() {
    let (server, mut idp, _dir) = server_and_issuer(vec![]);
    let owner = server.claimed().await;
    assert_eq!(link(&server, &idp, &owner, "owner-sub").await.status(), 303);
    // Gone between the browser's visit and the code's exchange.
    let browser = server.client();
    let back = idp
        .sign_in(&begin_sign_in(&browser).await, "owner-sub")
        .await;
    idp.stop();
    let answer = browser.get_html(&on_clawhost(&back, &server)).await;
    assert_eq!(answer.status(), 502);
    let page = answer.text().await.expect("page");
    assert!(
        page.contains("could not be reached") && page.contains("password"),
        "{page}"
    );
    server.login().await;

    // An issuer never reached: the start says so, on a page; the password signs in.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let server = TestServer::start_with(Options {
        env: vec![
            ("CLAWHOST_AUTH_OIDC_ISSUER".into(), closed),
            ("CLAWHOST_AUTH_OIDC_CLIENT_ID".into(), CLIENT_ID.into()),
            (
                "CLAWHOST_AUTH_OIDC_CLIENT_SECRET_FILE".into(),
                secret.display().to_string(),
            ),
        ],
        ..Options::default()
    });
    server.claimed().await;
    let answer = server.client().get_html("/auth/oidc/start").await;
    assert_eq!(answer.status(), 502);
    assert!(
        answer
            .text()
            .await
            .expect("page")
            .contains("could not be reached")
    );
    // Asked again at once, the issuer is not: a dead issuer is tried once a minute at most.
    let again = server.client().page_text("/auth/oidc/start").await;
    assert!(again.contains("a moment ago"), "{again}");
    server.login().await;
}

#[tokio::test]
async fn foreign_identities_are_locked_out_like_wrong_passwords() {
    let (server, idp, _dir) = server_and_issuer(vec![]);
    let owner = server.claimed().await;
    assert_eq!(link(&server, &idp, &owner, "owner-sub").await.status(), 303);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let browser = server.client();
        let start = browser.get_html("/auth/oidc/start").await;
        if start.status() != 302 {
            statuses.push(start.status().as_u16());
            continue;
        }
        let back = idp.sign_in(&location(&start), "stranger-sub").await;
        statuses.push(
            browser
                .get_html(&on_clawhost(&back, &server))
                .await
                .status()
                .as_u16(),
        );
    }
    // Five free, as for wrong passwords; the sixth locks, and the next wait.
    assert_eq!(&statuses[..6], &[403; 6], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    let kinds = owner.events().await;
    assert!(kinds.iter().any(|e| e["kind"] == "lockout"), "{kinds:?}");
    // The password has a lane of its own.
    server.login().await;
}

#[tokio::test]
async fn issuer_settings_are_checked_at_start() {
    let check = |env: Vec<(&str, &str)>| {
        let home = tempfile::tempdir().expect("home");
        let mut command = crate::harness::clawhost();
        command
            .args(["serve", "--check-config"])
            .env("HOME", home.path());
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().expect("clawhost");
        let said = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        (output.status.code(), said)
    };
    let (code, said) = check(vec![(
        "CLAWHOST_AUTH_OIDC_ISSUER",
        "https://id.example.com",
    )]);
    assert_eq!(code, Some(2));
    assert!(said.contains("auth.oidc.client_id"), "{said}");
    let (code, said) = check(vec![
        ("CLAWHOST_AUTH_OIDC_ISSUER", "http://id.example.com"),
        ("CLAWHOST_AUTH_OIDC_CLIENT_ID", "x"),
    ]);
    assert_eq!(code, Some(2));
    assert!(said.contains("must be an https:// URL"), "{said}");
    let (code, _) = check(vec![
        (
            "CLAWHOST_AUTH_OIDC_ISSUER",
            "http://127.0.0.1:9/realms/home",
        ),
        ("CLAWHOST_AUTH_OIDC_CLIENT_ID", "x"),
    ]);
    assert_eq!(code, Some(0), "plain http is fine on loopback");
    let (code, said) = check(vec![("CLAWHOST_AUTH_OIDC_CLIENT_ID", "x")]);
    assert_eq!(code, Some(2));
    assert!(said.contains("auth.oidc.issuer"), "{said}");

    // Review of issue 15: a client secret others may read is refused at start.
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("oidc-client-secret");
    std::fs::write(&secret, "s3cret\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let output = crate::harness::clawhost()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-root",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("HOME", dir.path())
        .env("CLAWHOST_AUTH_OIDC_ISSUER", "http://127.0.0.1:9")
        .env("CLAWHOST_AUTH_OIDC_CLIENT_ID", "x")
        .env("CLAWHOST_AUTH_OIDC_CLIENT_SECRET_FILE", &secret)
        .output()
        .expect("clawhost");
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("readable by others") && said.contains("chmod 600"),
        "{said}"
    );
}
