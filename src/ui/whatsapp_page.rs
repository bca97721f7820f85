//! `/channels/whatsapp`: linking WhatsApp with the QR code the gateway produces. Without
//! JavaScript the page reloads itself while a flow runs; `static/app.js` follows the
//! events stream instead.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::render::{render, see_other};
use super::step_up::Confirmable;
use crate::channels::whatsapp_link::{self, LinkEvent};
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};

const PAGE: &str = "/channels/whatsapp";

pub(super) fn routes() -> Router<AppState> {
    let routes = Router::new()
        .route(PAGE, get(page))
        .route("/channels/whatsapp/link", post(link));
    ReturnTo::group(PAGE, routes)
}

#[derive(Template)]
#[template(path = "whatsapp.html")]
struct WhatsAppPage {
    state: &'static str,
    status: String,
    qr: String,
    failed: String,
    /// The plugin's own words, when `failed` says them differently.
    failed_detail: String,
    /// Restarting the gateway is what finishes the link (WhatsApp's 515).
    restart_finishes: bool,
    relink: bool,
    reload: bool,
}

fn view(event: LinkEvent) -> WhatsAppPage {
    let mut page = WhatsAppPage {
        state: event.name(),
        status: String::new(),
        qr: String::new(),
        failed: String::new(),
        failed_detail: String::new(),
        restart_finishes: false,
        relink: false,
        reload: event.in_progress(),
    };
    match event {
        LinkEvent::Idle {} => {
            page.status = "Press Link WhatsApp: clawhost asks the gateway for a QR code (and \
                           installs the WhatsApp plugin first if the gateway has none)."
                .into();
        }
        LinkEvent::Progress { detail, .. } => page.status = format!("{detail}…"),
        LinkEvent::Qr { data_url } => {
            page.status = "Scan the QR code with WhatsApp. It refreshes by itself.".into();
            page.qr = data_url;
        }
        LinkEvent::Linked { phone } => {
            page.status = match phone {
                Some(phone) => format!("WhatsApp is linked ({phone})."),
                None => "WhatsApp is linked.".into(),
            };
            page.relink = true;
        }
        LinkEvent::Failed { detail } => {
            let explained = whatsapp_link::explain(&detail);
            page.status = "WhatsApp is not linked.".into();
            page.restart_finishes = explained.restart_finishes;
            if explained.reason != detail {
                page.failed_detail = detail;
            }
            page.failed = explained.reason;
        }
    }
    page
}

async fn page(State(state): State<AppState>, _: PageOwner) -> Response {
    render(StatusCode::OK, view(state.whatsapp.current()))
}

#[derive(Deserialize)]
struct LinkForm {
    relink: Option<String>,
}

async fn link(State(state): State<AppState>, form: Confirmable<LinkForm>) -> Response {
    let form = match form
        .confirmed(&state, "Linking WhatsApp to your assistant")
        .await
    {
        Ok((_, form)) => form,
        Err(page) => return page,
    };
    match state.whatsapp.start(form.relink.is_some()) {
        Ok(()) => see_other(PAGE, None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_reads_as_a_sentence() {
        let page = view(LinkEvent::Qr {
            data_url: "data:image/png;base64,AA==".into(),
        });
        assert!(page.reload && page.failed.is_empty() && !page.qr.is_empty());
        let page = view(LinkEvent::Failed {
            detail: "WhatsApp login failed: offline".into(),
        });
        assert!(!page.reload && page.qr.is_empty());
        assert_eq!(page.failed, "WhatsApp login failed: offline");
        let page = view(LinkEvent::Failed {
            detail:
                "WhatsApp login failed: WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)"
                    .into(),
        });
        assert!(page.failed.contains("cannot be reached"), "{}", page.failed);
        assert!(page.failed_detail.contains("ENOTFOUND"));
        let page = view(LinkEvent::Linked {
            phone: Some("+1•••••4321".into()),
        });
        assert!(page.relink && page.status.contains("+1•••••4321"));
    }
}
