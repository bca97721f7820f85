//! Server-rendered pages: claim and sign-in, the dashboard, the setup wizard, settings and
//! WhatsApp linking. Forms post without JavaScript; `static/app.js` adds live progress, logs
//! and inline errors on top. A page that needs the owner takes [`PageOwner`], which sends a
//! visitor without a session to sign in and back.
//!
//! [`PageOwner`]: crate::web::extract::PageOwner

mod assets;
mod backup_pages;
mod config_history_pages;
mod devices_page;
mod exchange_pages;
mod https_card;
mod notices;
mod oidc_pages;
mod owner_pages;
mod passkey_pages;
mod render;
mod sign_in;
mod step_up;
mod telegram_page;
mod to_issuer;
mod token_channel_pages;
mod update_card;
mod usage_card;
mod whatsapp_page;

use axum::Router;

use crate::state::AppState;

/// The pages' forms whose bodies are streamed (see [`crate::web::upload`]).
pub(crate) fn streamed_routes() -> Router<AppState> {
    backup_pages::streamed_routes()
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(sign_in::routes())
        .merge(oidc_pages::routes())
        .merge(passkey_pages::routes())
        .merge(exchange_pages::routes())
        .merge(owner_pages::routes())
        .merge(backup_pages::routes())
        .merge(config_history_pages::routes())
        .merge(devices_page::routes())
        .merge(update_card::routes())
        .merge(usage_card::routes())
        .merge(whatsapp_page::routes())
        .merge(telegram_page::routes())
        .merge(token_channel_pages::routes())
        .merge(assets::routes())
}
