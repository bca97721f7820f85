//! What a page says after a form sent the owner back to it. Only these words are ever shown:
//! the query names one of them, it never carries text.

/// What a redirect after a gateway action says on the page it lands on. Only these words
/// are ever shown: the query names one of them, it never carries text.
pub(super) fn gateway_done(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "start" => Some("Gateway starting…"),
        "stop" => Some("Gateway stopping…"),
        "restart" => Some("Gateway restarting…"),
        "rotate" => Some("The gateway got a new credential and is restarting with it…"),
        "install" => Some("Installing OpenClaw…"),
        "update" => Some(
            "Updating OpenClaw… it goes back by itself if the new version does not come up healthy.",
        ),
        "rollback" => Some("Going back to the earlier OpenClaw…"),
        "paused" => Some(
            "The assistant's access to the model is paused: its next request is refused, and it says so.",
        ),
        "resumed" => Some("The assistant's access to the model is back."),
        _ => None,
    }
}

/// What the settings page says after a backup form. Only these words are ever shown: the
/// query names one of them, it never carries text.
pub(super) fn backup_done(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "started" => Some("Backing up… the list below shows the new backup when it is done."),
        "restoring" => Some(
            "Restoring… the backup is checked first; then the gateway stops, the state is replaced and every session ends: sign in again with the password of the backup's owner.",
        ),
        "removed" => Some("The backup was removed."),
        "upload" => Some("Confirmed. Choose the backup file to upload."),
        "confirm-upload" => {
            Some("The upload was not read: confirm it is you first, then choose the file again.")
        }
        "uploaded" => Some(
            "The backup was uploaded. It is at the top of the list: restore it from there (it is checked whole first).",
        ),
        _ => None,
    }
}
