//! Channel state: WhatsApp's link read from fixture credential files with the gateway
//! stopped (never followed through a symlink, never fatal), and 503 for channel health.

use serde_json::json;

use crate::harness::{TestServer, assert_problem};

#[tokio::test]
async fn whatsapp_link_state_from_files() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let account = server
        .data_dir()
        .join("openclaw/credentials/whatsapp/default");
    let creds = account.join("creds.json");

    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(
        link,
        json!({"linked": false, "phone": null, "source": "files"})
    );

    std::fs::create_dir_all(&account).expect("dir");
    std::fs::write(
        &creds,
        r#"{"me":{"id":"15557654321:12@s.whatsapp.net"},"registered":false}"#,
    )
    .expect("write");
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(
        link,
        json!({"linked": true, "phone": "+1•••••4321", "source": "files"})
    );
    assert!(
        std::fs::read_to_string(&creds)
            .expect("read")
            .contains("\"registered\":false"),
        "clawhost never rewrites the file"
    );

    std::fs::write(&creds, "x").expect("write");
    assert_eq!(owner.json("/api/channels/whatsapp").await["linked"], false);

    std::fs::write(&creds, "{ not json").expect("write");
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(link["linked"], false);
    assert!(
        link["problem"]
            .as_str()
            .expect("problem")
            .contains("not valid JSON")
    );

    std::fs::remove_file(&creds).expect("remove");
    std::fs::create_dir(&creds).expect("dir in its place");
    let link = owner.json("/api/channels/whatsapp").await;
    assert!(
        link["problem"]
            .as_str()
            .expect("problem")
            .contains("not a regular file")
    );
    std::fs::remove_dir(&creds).expect("remove");

    let elsewhere = server.data_dir().join("elsewhere.json");
    std::fs::write(&elsewhere, r#"{"me":{"id":"15550000000@s.whatsapp.net"}}"#).expect("write");
    std::os::unix::fs::symlink(&elsewhere, &creds).expect("symlink");
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(link["linked"], false);
    assert!(
        link["problem"]
            .as_str()
            .expect("problem")
            .contains("symlink")
    );

    assert_eq!(owner.json("/api/channels").await, json!({"channels": []}));
    assert_problem(server.client().get("/api/channels/whatsapp").await, 401).await;
}
