//! `/devices`: the gateway's pairing requests, answered one at a time, and its paired
//! devices, each removable. Every answer is a sensitive action (a fresh step-up).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::render::{render, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::ClientInfo;
use crate::channels::pairing::{self, DmRequest};
use crate::devices::{
    self, Answer, Devices, PairedDevice, PendingDevice, PendingNode, SetupAccess, SetupCode,
};
use crate::state::AppState;
use crate::web::extract::{PageOwner, ReturnTo};

const PAGE: &str = "/devices";

pub(super) fn routes() -> Router<AppState> {
    let routes = Router::new()
        .route(PAGE, get(page))
        .route("/devices/pending/{request_id}/approve", post(approve))
        .route("/devices/pending/{request_id}/reject", post(reject))
        .route("/devices/paired/{device_id}/remove", post(remove))
        .route("/devices/nodes/{request_id}/approve", post(approve_node))
        .route("/devices/nodes/{request_id}/reject", post(reject_node))
        .route("/devices/paired/{device_id}/rename", post(rename))
        .route("/devices/setup-code", post(setup_code))
        .route("/devices/messages/{channel}/{code}/approve", post(let_in))
        .route("/devices/messages/{channel}/{code}/deny", post(turn_away));
    ReturnTo::group(PAGE, routes)
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    /// `None` while the gateway is not running.
    devices: Option<Devices>,
    /// People asking to message the assistant on a channel.
    dm: Vec<DmRequest>,
    /// The gateway did not list them.
    dm_error: Option<String>,
    /// The gateway did not answer.
    error: Option<String>,
    /// Where OpenClaw's apps and CLI elsewhere connect, when `devices.remote` is on.
    remote_url: Option<String>,
}

/// A device's kind in words: "cli on linux", "openclaw-ios (ui)".
fn what(client: Option<&String>, mode: Option<&String>, platform: Option<&String>) -> String {
    let client = client.map_or("a client", String::as_str);
    let mode = mode
        .filter(|m| m.as_str() != client)
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let platform = platform.map(|p| format!(" on {p}")).unwrap_or_default();
    format!("{client}{mode}{platform}")
}

impl DevicesPage {
    /// The start of a device's id (a 64-digit hash), enough to tell devices apart.
    fn short(id: &str) -> &str {
        id.get(..12).unwrap_or(id)
    }

    fn pending_what(device: &PendingDevice) -> String {
        what(
            device.client.as_ref(),
            device.mode.as_ref(),
            device.platform.as_ref(),
        )
    }

    /// What the Approve button asks first: the page redraws itself as requests come and go,
    /// so the owner confirms the very request under the pointer.
    fn approve_question(device: &PendingDevice) -> String {
        let name = device.name.as_ref().map_or_else(
            || Self::pending_what(device),
            |name| format!("{name} ({})", Self::pending_what(device)),
        );
        let from = device
            .remote_ip
            .as_ref()
            .map_or_else(String::new, |ip| format!(" from {ip}"));
        let role = device.role.as_ref().map_or_else(String::new, |role| {
            format!(" It gets {role} access to your assistant.")
        });
        format!("Approve {name}{from}?{role}")
    }

    fn paired_what(device: &PairedDevice) -> String {
        what(
            device.client.as_ref(),
            device.mode.as_ref(),
            device.platform.as_ref(),
        )
    }

    fn node_what(node: &PendingNode) -> String {
        what(node.client.as_ref(), None, node.platform.as_ref())
    }
}

/// The dashboard's Devices card, from what the gateway last reported (never an RPC of its
/// own while the dashboard renders).
pub(super) struct DevicesCard {
    pub(super) pending: usize,
    /// Nodes asking that the assistant may use their commands.
    pub(super) nodes: usize,
    /// People asking to message the assistant on a channel.
    pub(super) people: usize,
    pub(super) paired: usize,
    pub(super) connected: usize,
}

pub(super) fn devices_card(state: &AppState) -> Option<DevicesCard> {
    state.devices.now().map(|devices| DevicesCard {
        pending: devices.pending.len(),
        nodes: devices.nodes.len(),
        people: state.devices.dm_now().map_or(0, |dm| dm.len()),
        paired: devices.paired.len(),
        connected: devices.paired.iter().filter(|d| d.connected).count(),
    })
}

async fn page(State(state): State<AppState>, _: PageOwner) -> Response {
    let mut page = DevicesPage {
        devices: None,
        dm: Vec::new(),
        dm_error: None,
        error: None,
        remote_url: state
            .config
            .remote_devices
            .then(|| crate::proxy::remote::url(&state.public_url)),
    };
    if let Some(credential) = state.gateway.credential() {
        let (devices, dm) = tokio::join!(devices::list(&credential), pairing::list(&credential));
        match devices {
            Ok(devices) => page.devices = Some(devices),
            Err(error) => page.error = Some(error.to_string()),
        }
        match dm {
            Ok(dm) => page.dm = dm,
            Err(error) => page.dm_error = Some(error.to_string()),
        }
    }
    render(StatusCode::OK, page)
}

async fn answer(
    state: &AppState,
    form: Confirmable<NoFields>,
    id: String,
    answer: Answer,
) -> Response {
    let client = form.client().clone();
    let what = match answer {
        Answer::Approve => "Pairing a device with your assistant",
        Answer::Reject => "Turning a device's pairing request down",
        Answer::Remove => "Removing a paired device",
        Answer::ApproveNode => "Letting your assistant use a machine's commands",
        Answer::RejectNode => "Turning a machine's commands down",
    };
    if let Err(page) = form.confirmed(state, what).await {
        return page;
    }
    match crate::api::devices::give(state, &client, answer, id).await {
        Ok(_) => see_other(PAGE, None),
        Err(error) => error.into_page(),
    }
}

async fn approve(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    answer(&state, form, request_id, Answer::Approve).await
}

async fn reject(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    answer(&state, form, request_id, Answer::Reject).await
}

async fn remove(
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    answer(&state, form, device_id, Answer::Remove).await
}

async fn approve_node(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    answer(&state, form, request_id, Answer::ApproveNode).await
}

async fn reject_node(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    answer(&state, form, request_id, Answer::RejectNode).await
}

#[derive(Template)]
#[template(path = "device_setup.html")]
struct SetupCodePage {
    setup: SetupCode,
}

/// A setup code for a phone or another machine, shown once (a fresh step-up).
async fn setup_code(State(state): State<AppState>, form: Confirmable<AccessForm>) -> Response {
    let client = form.client().clone();
    let form = match form
        .confirmed(&state, "Making a pairing code for a new device")
        .await
    {
        Ok((_, form)) => form,
        Err(page) => return page,
    };
    let access = if form.access.as_deref() == Some("full") {
        SetupAccess::Full
    } else {
        SetupAccess::Limited
    };
    match crate::api::devices::make_setup_code(&state, &client, access).await {
        Ok(setup) => render(StatusCode::OK, SetupCodePage { setup }),
        Err(error) => error.into_page(),
    }
}

#[derive(Deserialize)]
struct AccessForm {
    /// `full`, or anything else for limited.
    access: Option<String>,
}

#[derive(Deserialize)]
struct RenameForm {
    name: String,
}

/// Names a paired device (not a sensitive action: no step-up).
async fn rename(
    State(state): State<AppState>,
    client: ClientInfo,
    _: PageOwner,
    Path(device_id): Path<String>,
    Form(form): Form<RenameForm>,
) -> Response {
    let Some(credential) = state.gateway.credential() else {
        return see_other(PAGE, None);
    };
    match crate::api::devices::rename_device(&state, &client, &credential, device_id, &form.name)
        .await
    {
        Ok(()) => see_other(PAGE, None),
        Err(error) => error.into_page(),
    }
}

/// Lets someone who wrote to the assistant in: the channel tells them.
async fn let_in(
    State(state): State<AppState>,
    Path((channel, code)): Path<(String, String)>,
    form: Confirmable<NoFields>,
) -> Response {
    let client = form.client().clone();
    if let Err(page) = form
        .confirmed(&state, "Letting someone message your assistant")
        .await
    {
        return page;
    }
    match crate::api::dm_pairing::let_in(&state, &client, &channel, &code).await {
        Ok(_) => see_other(PAGE, None),
        Err(error) => error.into_page(),
    }
}

async fn turn_away(
    State(state): State<AppState>,
    Path((channel, code)): Path<(String, String)>,
    form: Confirmable<NoFields>,
) -> Response {
    let client = form.client().clone();
    if let Err(page) = form
        .confirmed(
            &state,
            "Turning down someone who asked to message your assistant",
        )
        .await
    {
        return page;
    }
    match crate::api::dm_pairing::turn_away(&state, &client, &channel, &code).await {
        Ok(()) => see_other(PAGE, None),
        Err(error) => error.into_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_reads_as_words() {
        let s = |t: &str| Some(t.to_owned());
        assert_eq!(
            what(s("cli").as_ref(), s("cli").as_ref(), s("linux").as_ref()),
            "cli on linux"
        );
        assert_eq!(
            what(s("openclaw-ios").as_ref(), s("ui").as_ref(), None),
            "openclaw-ios (ui)"
        );
        assert_eq!(what(None, None, None), "a client");
    }
}
