//! The egress proxy on a real gateway (called from the gateway's lifecycle test, which has
//! one running): the provider key is nowhere in the gateway's processes, not in their
//! environment and not in their memory, while the provider receives it byte for byte; the
//! proxy takes only its virtual key, streams as it arrives, counts what the provider
//! reported, and pauses on the owner's word. (Paths, hosts and limits are checked in-process
//! by `egress::tests`.)

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
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let open = |what: &str| {
        std::fs::File::open(format!("/proc/{pid}/{what}"))
            .expect("the gateway's memory (the tests run as its user, or as root)")
    };
    let (mut memory, mut pagemap) = (open("mem"), open("pagemap"));
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
    let paused = owner
        .put("/api/usage/access", &json!({"paused": true}))
        .await;
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
    rpc.call(
        "chat.send",
        json!({"sessionKey": "main", "message": "are you there?", "idempotencyKey": "egress-paused"}),
        Duration::from_secs(30),
    )
    .await
    .expect("chat.send");
    let said = tokio::time::timeout(Duration::from_mins(2), async {
        loop {
            let event = rpc.next_event(Duration::from_mins(2)).await.expect("event");
            if event.to_string().contains("clawhost: the owner paused") {
                return event;
            }
        }
    })
    .await
    .expect("the chat said the model access is paused");
    assert!(said.to_string().contains("usage limit"), "{said}");
    assert_eq!(llm.seen().len(), before, "nothing reached the provider");
    let resumed = owner
        .put("/api/usage/access", &json!({"paused": false}))
        .await;
    assert_eq!(resumed.status(), 204);
    assert_eq!(chat().await.expect("egress").status(), 200);
    let kinds = owner.event_kinds().await;
    assert!(
        kinds.iter().any(|k| k == "model_access_paused"),
        "{kinds:?}"
    );

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
