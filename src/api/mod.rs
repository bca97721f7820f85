//! The JSON API: thin handlers that parse, call a domain module, and shape the answer.
//!
//! Each handler carries its own `#[utoipa::path]`; the router is built from those handlers
//! (`utoipa_axum::routes!`), so the document at `/api/openapi.json` lists exactly the routes
//! that exist, with the types they really take and return.

mod auth;
mod backups;
mod ceremony;
pub(crate) mod channel_setup;
mod channels;
pub(crate) mod config_history;
pub(crate) mod devices;
pub(crate) mod dm_pairing;
mod exchange;
mod gateway;
mod oidc;
mod passkeys;
mod status;
mod tls;
mod updates;
mod usage;

use axum::Json;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::web::problems::PROBLEM_JSON;

/// The name of the session security scheme in the document.
const SESSION: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clawhost",
        description = "Host an OpenClaw gateway on your own server. Every error is a problem \
                       (RFC 9457, application/problem+json). Requests that change state need \
                       an Origin (or Referer) equal to the instance's public origin.",
        license(name = "MIT OR Apache-2.0"),
    ),
    components(schemas(crate::web::problems::ProblemBody, crate::validation::FieldError))
)]
struct ApiDoc;

/// The API's routes: those whose bodies are bounded, those whose bodies are streamed (see
/// [`crate::web::upload`]), and the document that describes them all.
pub(crate) fn routes() -> (Router<AppState>, Router<AppState>, Document) {
    let (streamed, streamed_document) = backups::streamed_routes().split_for_parts();
    let (router, mut document) = parts()
        .into_iter()
        .fold(
            OpenApiRouter::with_openapi(ApiDoc::openapi()).routes(routes!(healthz)),
            OpenApiRouter::merge,
        )
        .split_for_parts();
    document.merge(streamed_document);
    conventions(&mut document);
    let json = document.to_pretty_json().unwrap_or_default();
    let router = router.route(
        "/api/openapi.json",
        get(move || {
            let json = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], json) }
        }),
    );
    (router, streamed, document)
}

/// Each area's routes with their part of the document.
fn parts() -> Vec<OpenApiRouter<AppState>> {
    vec![
        auth::routes(),
        oidc::routes(),
        passkeys::routes(),
        exchange::routes(),
        gateway::routes(),
        status::routes(),
        channels::routes(),
        tls::routes(),
        backups::routes(),
        updates::routes(),
        config_history::routes(),
        usage::routes(),
        devices::routes(),
        dm_pairing::routes(),
        channel_setup::routes(),
    ]
}

/// What holds for every operation, said once: the session cookie scheme, and that any
/// status not listed is answered with a problem document.
fn conventions(document: &mut Document) {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "clawhost_session",
            "The owner's session, set by claim or login. Named __Host-clawhost_session when \
             the public URL is https.",
        ))),
    );
    let problem = ResponseBuilder::new()
        .description("A problem (RFC 9457)")
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "Problem",
                ))))
                .build(),
        )
        .build();
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut operation.responses.responses;
            // OpenAPI requires a description on every response; the status's name will do.
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .and_then(|code| code.canonical_reason())
                        .unwrap_or("Success")
                        .to_string();
                }
            }
            responses
                .entry("default".into())
                .or_insert_with(|| RefOr::T(problem.clone()));
        }
    }
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok` when the server answers.
    status: &'static str,
}

/// Liveness of clawhost itself (not of the gateway).
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_and_answers_problems() {
        let (_, _, document) = routes();
        let mut operations = 0;
        for (path, item) in &document.paths.paths {
            for operation in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                operations += 1;
                let responses = &operation.responses.responses;
                assert!(responses.contains_key("default"), "{path}");
                for response in responses.values() {
                    if let RefOr::T(response) = response {
                        assert!(!response.description.is_empty(), "{path}");
                    }
                }
                let public = [
                    "/healthz",
                    "/api/auth/instance",
                    "/api/auth/claim",
                    "/api/auth/login",
                    "/api/auth/passkeys/login/start",
                    "/api/auth/passkeys/login/finish",
                ]
                .contains(&path.as_str())
                    || (path == "/api/auth/session-exchange"
                        && item.post.as_ref() == Some(operation))
                    || (path == "/api/status" && item.post.as_ref() == Some(operation));
                assert_eq!(operation.security.is_none(), public, "{path}");
            }
        }
        assert_eq!(operations, 85);
    }

    /// utoipa names a schema by its type's name alone, and of two types with one name the
    /// document silently keeps one: each name must stand for one schema across the areas.
    #[test]
    fn no_two_schemas_share_a_name() {
        let mut seen = std::collections::BTreeMap::new();
        for part in parts().into_iter().chain([backups::streamed_routes()]) {
            let Some(components) = part.get_openapi().components.as_ref() else {
                continue;
            };
            for (name, schema) in &components.schemas {
                let schema = serde_json::to_value(schema).expect("json");
                if let Some(before) = seen.insert(name.clone(), schema.clone()) {
                    assert_eq!(before, schema, "two schemas are named {name}");
                }
            }
        }
        assert!(seen.len() > 50, "{}", seen.len());
    }

    /// utoipa takes only literals for bounds and patterns; these are the constants the
    /// handlers really check.
    #[test]
    fn the_documented_bounds_are_the_checked_ones() {
        use crate::auth::password::{MAX_CHARS, MIN_CHARS};
        use crate::web::paging::MAX_PAGE;
        let (_, _, document) = routes();
        let json = serde_json::to_value(&document).expect("json");
        let schemas = &json["components"]["schemas"];
        let ids: Vec<&str> = crate::gateway::providers::ProviderKind::ALL
            .iter()
            .map(|p| p.id())
            .collect();
        assert_eq!(
            schemas["SettingsRequest"]["properties"]["provider"]["pattern"],
            format!("^({})$", ids.join("|"))
        );
        assert_eq!(
            schemas["SettingsRequest"]["properties"]["provider"]["enum"],
            serde_json::json!(ids)
        );
        for (schema, field) in [
            ("ClaimRequest", "password"),
            ("PasswordRequest", "new_password"),
        ] {
            let field = &schemas[schema]["properties"][field];
            assert_eq!(field["minLength"], MIN_CHARS, "{schema}");
            assert_eq!(field["maxLength"], MAX_CHARS, "{schema}");
        }
        assert_eq!(
            schemas["CreateRequest"]["properties"]["client_name"]["maxLength"],
            status::MAX_NAME_CHARS
        );
        let maximum = |path: &str, name: &str| {
            json["paths"][path]["get"]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"]["maximum"].clone())
                .expect("parameter")
        };
        assert_eq!(maximum("/api/auth/events", "limit"), MAX_PAGE);
        assert_eq!(maximum("/api/status", "limit"), MAX_PAGE);
        assert_eq!(
            maximum("/api/gateway/logs", "tail"),
            crate::gateway::logs::CAPACITY
        );
    }
}
