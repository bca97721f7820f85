//! The egress proxy on a real gateway (called from the gateway's lifecycle test, which has
//! one running): the provider key is nowhere in the gateway's processes, not in their
//! environment and not in their memory, while the provider receives it byte for byte; the
//! proxy takes only its virtual key, streams as it arrives, counts what the provider
//! reported, and pauses on the owner's word; a provider that is down and a daily limit
//! reached show in the chat (from the restart test, whose second start has a limit). (Paths
//! and hosts are checked in-process by `egress::tests`.)

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Client, TestServer, eventually};
use crate::llm::{REPLY, TestLlm};

/// Whether `needle` is anywhere in the memory of process `pid` (every readable page it has
/// in RAM or swap, found through `/proc/<pid>/pagemap`), as one-byte text (how V8 and C keep
/// ASCII) or as UTF-16 (V8's two-byte strings).
fn memory_holds(pid: u64, needle: &str) -> bool {
    const PAGE: u64 = 4096;
    let latin1 = memchr::memmem::Finder::new(needle.as_bytes()).into_owned();
    let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16 = memchr::memmem::Finder::new(&utf16).into_owned();
    // A process that ended meanwhile (the gateway runs short-lived helpers) holds nothing;
    // any other failure to read it fails the test.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let maps = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(maps) => maps,
        Err(e) if gone(&e) => return false,
        Err(e) => panic!("{pid}'s maps: {e}"),
    };
    let open = |what: &str| match std::fs::File::open(format!("/proc/{pid}/{what}")) {
        Ok(file) => Some(file),
        Err(e) if gone(&e) => None,
        Err(e) => panic!("{pid}'s {what} (the tests run as its user, or as root): {e}"),
    };
    let (Some(mut memory), Some(mut pagemap)) = (open("mem"), open("pagemap")) else {
        return false;
    };
    let mut scanned = 0u64;
    let mut entries = Vec::new();
    let mut piece = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or_default();
        // Files mapped read-only hold what is on disk (searched apart): the binary, its data.
        let from_disk = name.starts_with('/') && !perms.contains('w');
        if !perms.starts_with('r') || from_disk || name.starts_with("[vvar") || name == "[vsyscall]"
        {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        // One 8-byte entry per page: bit 63 in RAM, bit 62 swapped out.
        let pages = usize::try_from((end - start) / PAGE).expect("pages");
        entries.resize(pages * 8, 0);
        if pagemap.seek(SeekFrom::Start(start / PAGE * 8)).is_err()
            || pagemap.read_exact(&mut entries).is_err()
        {
            continue;
        }
        let held = |page: usize| {
            let entry = u64::from_le_bytes(entries[page * 8..page * 8 + 8].try_into().expect("8"));
            entry & (3 << 62) != 0
        };
        // Each run of held pages is read whole: a text in memory lies within one run.
        let mut page = 0;
        while page < pages {
            if !held(page) {
                page += 1;
                continue;
            }
            let first = page;
            while page < pages && held(page) {
                page += 1;
            }
            let length = usize::try_from((page - first) as u64 * PAGE).expect("size");
            piece.resize(length, 0);
            let at = start + first as u64 * PAGE;
            if memory.seek(SeekFrom::Start(at)).is_err() || memory.read_exact(&mut piece).is_err() {
                continue;
            }
            scanned += length as u64;
            if latin1.find(&piece).is_some() || utf16.find(&piece).is_some() {
                return true;
            }
        }
    }
    assert!(
        scanned > 10_000_000,
        "only {scanned} bytes of {pid} could be read"
    );
    false
}

/// What the egress proxy must hold while the gateway `gateway` (with its `processes`) runs a
/// chat against `llm` with the provider key `key` (its lifecycle test has just sent one).
pub async fn holds_the_key_for_the_gateway(
    server: &TestServer,
    owner: &Client,
    llm: &TestLlm,
    key: &str,
    gateway: u64,
    processes: &[u64],
    rpc: &mut clawhost::RpcClient,
) {
    // The gateway holds the virtual key: the search finds it where it is…
    let environ = std::fs::read(format!("/proc/{gateway}/environ")).expect("environ");
    let virtual_key = environ
        .split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("CLAWHOST_EGRESS_KEY="))
        .expect("the virtual key")
        .to_owned();
    server.secret(&virtual_key);
    assert!(
        memory_holds(gateway, &virtual_key),
        "the search finds what is there"
    );
    // …and the provider key in none of the gateway's processes: neither their environment
    // nor their memory.
    assert!(processes.contains(&gateway), "{processes:?}");
    for pid in processes {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            memchr::memmem::find(&environ, key.as_bytes()).is_none(),
            "the key is in {pid}'s environment"
        );
        assert!(!memory_holds(*pid, key), "the key is in {pid}'s memory");
    }
    let config: Value = serde_json::from_slice(
        &std::fs::read(server.data_dir().join("openclaw/openclaw.json")).expect("config"),
    )
    .expect("json");
    let base = config["models"]["providers"]["custom"]["baseUrl"]
        .as_str()
        .expect("the provider's base URL")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let http = crate::harness::http_builder().build().expect("client");

    // Only the virtual key opens it, and the provider gets the real key byte for byte.
    for given in [None, Some("wrong"), Some(key)] {
        let mut request = http.get(format!("{base}/models"));
        if let Some(given) = given {
            request = request.bearer_auth(given);
        }
        let refused = request.send().await.expect("egress");
        assert_eq!(refused.status(), 401, "{given:?}");
        let body: Value = refused.json().await.expect("json");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("clawhost:")),
            "{body}"
        );
    }
    let before = llm.seen().len();
    let models = http
        .get(format!("{base}/models"))
        .bearer_auth(&virtual_key)
        .send()
        .await
        .expect("egress");
    assert_eq!(models.status(), 200);
    let bearer = format!("Bearer {key}");
    let seen = llm.seen();
    assert!(
        seen[before..]
            .iter()
            .any(|s| s.path == "/v1/models" && s.authorization.as_deref() == Some(&bearer)),
        "{seen:?}"
    );

    // A streamed answer passes chunk by chunk: its first chunk arrives while the provider
    // still holds the last.
    llm.hold_streams();
    let mut stream = http
        .post(format!("{base}/chat/completions"))
        .bearer_auth(&virtual_key)
        .json(&json!({"model": "test-model", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("egress");
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(30), stream.chunk())
        .await
        .expect("the first chunk came while the provider held the rest")
        .expect("chunk")
        .expect("a chunk");
    assert!(String::from_utf8_lossy(&first).contains(REPLY));
    llm.go_on();
    let mut rest = Vec::new();
    while let Some(chunk) = stream.chunk().await.expect("chunk") {
        rest.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8_lossy(&rest).contains("[DONE]"));

    // Paused by the owner: the next request is refused with words the agent shows, until
    // resumed; nothing restarts.
    let reauth = owner
        .post(
            "/api/auth/reauthenticate",
            &json!({"password": crate::harness::PASSWORD}),
        )
        .await;
    assert_eq!(reauth.status(), 204);
    let chat = || {
        http.post(format!("{base}/chat/completions"))
            .bearer_auth(&virtual_key)
            .json(&json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let paused = owner.post_empty("/api/usage/pause").await;
    assert_eq!(paused.status(), 204);
    let refused = chat().await.expect("egress");
    assert_eq!(refused.status(), 429);
    let words: Value = refused.json().await.expect("json");
    assert!(
        words["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("paused")),
        "{words}"
    );
    assert_eq!(owner.json("/api/usage").await["paused"], true);
    // The agent says so in the chat: OpenClaw sends the request once and passes the words on.
    let before = llm.seen().len();
    let run = chat_ends(rpc, "are you there?", "egress-paused").await;
    let said = run.ended_with();
    assert!(said.contains("clawhost: the owner paused"), "{}", run.said);
    assert!(said.contains("usage limit"), "{said}");
    assert_eq!(llm.seen().len(), before, "nothing reached the provider");
    let resumed = owner.post_empty("/api/usage/resume").await;
    assert_eq!(resumed.status(), 204);
    assert_eq!(chat().await.expect("egress").status(), 200);
    let kinds = owner.event_kinds().await;
    assert!(
        kinds.iter().any(|k| k == "model_access_paused"),
        "{kinds:?}"
    );

    // A new key for the same provider goes with the next request; the gateway keeps running
    // with the virtual key it has.
    let rotated = "sk-test-rotated-while-running";
    server.secret(rotated);
    crate::gateway::configure_test_llm(owner, llm, rotated).await;
    let before = llm.seen().len();
    assert_eq!(chat().await.expect("egress").status(), 200);
    let rotated_bearer = format!("Bearer {rotated}");
    let seen = llm.seen();
    assert_eq!(
        seen[before..]
            .iter()
            .map(|s| s.authorization.as_deref())
            .collect::<Vec<_>>(),
        [Some(rotated_bearer.as_str())]
    );
    let status = owner.json("/api/gateway/status").await;
    assert_eq!(status["pid"].as_u64(), Some(gateway), "{status}");

    // The usage counted is what the provider reported: 5 + 5 tokens per chat.
    let chats = |seen: &[crate::llm::Seen]| {
        seen.iter()
            .filter(|s| s.path == "/v1/chat/completions")
            .count() as u64
    };
    let counted = eventually(Duration::from_secs(10), || async {
        let usage = owner.json("/api/usage").await;
        let chats = chats(&llm.seen());
        usage["totals"]["input_tokens"] == 5 * chats
            && usage["totals"]["output_tokens"] == 5 * chats
    })
    .await;
    let usage = owner.json("/api/usage").await;
    assert!(
        counted.is_some(),
        "{usage} for {} chats",
        chats(&llm.seen())
    );
    assert!(
        usage["days"]
            .as_array()
            .is_some_and(|days| days.iter().any(|d| d["model"] == "test-model")),
        "{usage}"
    );
}

/// Sends `message` in the main session and follows the gateway's chat events until the run
/// ends. What the Control UI shows comes from these events; the last one (`chat`, state
/// `final`, `error` or `aborted`) is what stays in the chat.
pub async fn chat_ends(rpc: &mut clawhost::RpcClient, message: &str, key: &str) -> ChatRun {
    let sent = rpc
        .call(
            "chat.send",
            json!({"sessionKey": "main", "message": message, "idempotencyKey": key}),
            Duration::from_secs(30),
        )
        .await
        .expect("chat.send");
    let run = sent["runId"].as_str().map(str::to_owned);
    let mut said = String::new();
    let mut last = Value::Null;
    // OpenClaw's own retries of an unreachable provider take up to 90 s.
    let ended = tokio::time::timeout(Duration::from_mins(3), async {
        loop {
            let event = rpc.next_event(Duration::from_mins(3)).await.expect("event");
            let payload = &event["payload"];
            let ours = run.is_none() || payload["runId"].as_str() == run.as_deref();
            if !ours {
                continue;
            }
            said.push_str(&event.to_string());
            said.push('\n');
            let terminal = matches!(
                payload["state"].as_str(),
                Some("final" | "error" | "aborted")
            );
            if event["event"] == "chat" && terminal {
                last = payload.clone();
                return;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the chat never ended: {said}");
    ChatRun { said, last }
}

/// A chat run as the gateway reported it.
pub struct ChatRun {
    /// Every event of the run, one per line.
    pub said: String,
    /// The payload of the event that ended it.
    pub last: Value,
}

impl ChatRun {
    /// The words the run ended with: the error the chat shows, or the reply.
    pub fn ended_with(&self) -> String {
        match self.last["errorMessage"].as_str() {
            Some(error) => error.to_owned(),
            None => self.last["message"].to_string(),
        }
    }
}

/// The provider down, then a daily limit reached, on a real gateway started with
/// `usage.daily_token_limit = 10` and nothing used yet today: the chat reports the provider
/// down after OpenClaw's bounded retries and the errors are counted; back up, one chat of
/// 5 + 5 tokens goes through, and the next is refused with the words in the chat, the
/// provider never asked.
pub async fn a_provider_down_and_a_limit_reached(
    owner: &Client,
    llm: &TestLlm,
    rpc: &mut clawhost::RpcClient,
) {
    llm.down().await;
    // OpenClaw says it retries ("Retrying in 2s (1/8)", …, about 80 s in all), then gives up
    // with the cause clawhost gave.
    let down = chat_ends(rpc, "anyone there?", "egress-down").await;
    llm.up().await;
    assert_eq!(down.last["state"], "error", "{}", down.said);
    assert!(
        down.ended_with().contains("connection refused"),
        "{}",
        down.said
    );
    assert!(down.said.contains("Retrying in"), "{}", down.said);
    let usage = owner.json("/api/usage").await;
    let errors = usage["totals"]["errors"].as_u64().expect("errors");
    // Retried a bounded number of times, then given up: no loop.
    assert!((1..=10).contains(&errors), "{usage}");
    assert_eq!(usage["totals"]["input_tokens"], 0, "{usage}");

    let before = llm.seen().len();
    let up = chat_ends(rpc, "hello again", "egress-up").await;
    assert!(up.said.contains(REPLY), "{}", up.said);
    let counted = eventually(Duration::from_secs(10), || async {
        owner.json("/api/usage").await["today"]["tokens"] == 10
    })
    .await;
    assert!(counted.is_some(), "{}", owner.json("/api/usage").await);
    let asked = llm.seen().len();
    assert!(asked > before);

    let refused = chat_ends(rpc, "one more", "egress-limit").await;
    assert!(
        refused
            .ended_with()
            .contains("clawhost: daily limit reached"),
        "{}",
        refused.said
    );
    assert_eq!(llm.seen().len(), asked, "the provider was not asked");
    let dashboard = owner.get_html("/").await.text().await.expect("page");
    assert!(
        dashboard.contains("The daily limit is reached"),
        "{dashboard}"
    );
    let usage = owner.json("/api/usage").await;
    assert_eq!(usage["today"]["limit"], 10, "{usage}");
    assert_eq!(usage["totals"]["errors"].as_u64(), Some(errors), "{usage}");
}
