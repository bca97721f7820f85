//! The SQLite store against a real database file.

use super::*;
use crate::store::EventKind;

/// Where the passkeys the tests make work, and the issuer of their identities.
const HERE: Here<'static> = Here {
    rp_id: Some("claw.example.com"),
    issuer: Some("https://id.example.com"),
};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("clawhost.db")).expect("open");
    (dir, store)
}

fn event(kind: EventKind, at: UnixMs) -> NewEvent {
    NewEvent {
        at,
        kind,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
        detail: None,
    }
}

/// A claim with a password (its hash) alone.
fn password_only() -> FirstWayIn {
    FirstWayIn {
        password_hash: "hash".into(),
        identity: None,
    }
}

fn session(id: &str, byte: u8) -> Session {
    Session {
        reauthenticated_at: 0,
        id: id.into(),
        token_hash: [byte; 32],
        created_at: 1,
        last_seen_at: 1,
        expires_at: 1_000_000,
        ip: "127.0.0.1".into(),
        user_agent: "test".into(),
    }
}

#[test]
fn claim_consumes_the_code_once() {
    let (_dir, store) = store();
    let code = [7u8; 32];
    let issued = store
        .issue_claim_code(code, 0, 100, &event(EventKind::ClaimCodeIssued, 0))
        .expect("issue");
    assert_eq!(issued, IssueCodeOutcome::Issued);
    assert_eq!(
        store
            .claim(
                [8u8; 32],
                &password_only(),
                &session("a", 1),
                &event(EventKind::Claim, 1)
            )
            .expect("claim"),
        ClaimOutcome::InvalidCode
    );
    assert_eq!(
        store
            .claim(
                code,
                &password_only(),
                &session("a", 1),
                &event(EventKind::Claim, 1)
            )
            .expect("claim"),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store
            .claim(
                code,
                &password_only(),
                &session("b", 2),
                &event(EventKind::Claim, 2)
            )
            .expect("claim"),
        ClaimOutcome::AlreadyClaimed
    );
    assert_eq!(
        store
            .issue_claim_code(code, 0, 100, &event(EventKind::ClaimCodeIssued, 3))
            .expect("issue"),
        IssueCodeOutcome::AlreadyClaimed
    );
}

#[test]
fn expired_code_is_refused() {
    let (_dir, store) = store();
    let code = [7u8; 32];
    store
        .issue_claim_code(code, 0, 100, &event(EventKind::ClaimCodeIssued, 0))
        .expect("issue");
    assert_eq!(
        store
            .claim(
                code,
                &password_only(),
                &session("a", 1),
                &event(EventKind::Claim, 100)
            )
            .expect("claim"),
        ClaimOutcome::InvalidCode
    );
}

#[test]
fn revocations_bump_the_epoch() {
    let (_dir, store) = store();
    store
        .issue_claim_code([1; 32], 0, 100, &event(EventKind::ClaimCodeIssued, 0))
        .expect("issue");
    store
        .claim(
            [1; 32],
            &password_only(),
            &session("a", 1),
            &event(EventKind::Claim, 1),
        )
        .expect("claim");
    store
        .insert_session(&session("b", 2), &event(EventKind::LoginOk, 2))
        .expect("insert");
    let before = store.auth_epoch().expect("epoch");
    let ended = store
        .delete_other_sessions("a", &event(EventKind::OtherSessionsRevoked, 3))
        .expect("delete");
    assert_eq!(ended, 1);
    assert!(store.auth_epoch().expect("epoch") > before);
    assert_eq!(store.list_sessions().expect("list").len(), 1);
}

#[test]
fn events_page_newest_first_and_stay_bounded() {
    let (_dir, store) = store();
    for at in 0..25 {
        store
            .record_event(&event(EventKind::LoginFailed, at))
            .expect("record");
    }
    let first = store.events(None, 10).expect("page");
    assert_eq!(first.len(), 10);
    assert!(first.windows(2).all(|pair| pair[0].id > pair[1].id));
    let second = store.events(Some(first[9].id), 10).expect("page");
    assert_eq!(second[0].id, first[9].id - 1);
}

/// Issue 11, defect 8: anonymous checks are pruned within their own budget (rows and bytes
/// of names), oldest first; the owner's are never touched by them.
#[test]
fn anonymous_checks_never_push_out_the_owners() {
    let (_dir, store) = store();
    let check = |n: u32, anonymous: bool, name: &str| StatusCheck {
        id: format!("{n:036}"),
        client_name: name.to_string(),
        created_at: i64::from(n),
        anonymous,
    };
    let owner_budget = StatusBudget {
        rows: 100,
        bytes: 10_000,
    };
    let anonymous_budget = StatusBudget { rows: 5, bytes: 40 };
    for n in 0..3 {
        store
            .insert_status_check(&check(n, false, "mine"), owner_budget)
            .expect("insert");
    }
    for n in 3..20 {
        store
            .insert_status_check(&check(n, true, "stranger"), anonymous_budget)
            .expect("insert");
    }
    let all = store.status_checks(None, 100).expect("list");
    let (anonymous, owners): (Vec<_>, Vec<_>) = all.iter().partition(|c| c.anonymous);
    assert_eq!(owners.len(), 3, "the owner's history stays");
    // 40 bytes hold five 8-byte names: the newest five strangers.
    let ids: Vec<i64> = anonymous.iter().map(|c| c.created_at).collect();
    assert_eq!(ids, [19, 18, 17, 16, 15]);
    store
        .insert_status_check(&check(20, true, &"x".repeat(30)), anonymous_budget)
        .expect("insert");
    let anonymous = store
        .status_checks(None, 100)
        .expect("list")
        .into_iter()
        .filter(|c| c.anonymous)
        .count();
    assert_eq!(anonymous, 2, "one long name takes the room of several");
}

/// Makes `store` have an owner.
fn claim(store: &SqliteStore) {
    let code = [7u8; 32];
    store
        .issue_claim_code(code, 0, 100, &event(EventKind::ClaimCodeIssued, 0))
        .expect("issue");
    store
        .claim(
            code,
            &password_only(),
            &session("s", 1),
            &event(EventKind::Claim, 1),
        )
        .expect("claim");
}

#[test]
fn one_identity_is_linked_to_an_owner_and_an_owner_reset_forgets_it() {
    let (_dir, store) = store();
    let identity = |subject: &str| LinkedIdentity {
        issuer: "https://id.example.com".into(),
        subject: subject.into(),
        email: Some("owner@example.com".into()),
        linked_at: 5,
    };
    let linked = event(EventKind::IdentityLinked, 5);
    assert!(
        !store.link_identity(&identity("a"), &linked).expect("link"),
        "no owner yet"
    );
    claim(&store);
    assert!(store.link_identity(&identity("a"), &linked).expect("link"));
    assert!(store.link_identity(&identity("b"), &linked).expect("link"));
    assert_eq!(
        store.linked_identity().expect("read"),
        Some(identity("b")),
        "one at a time"
    );
    let unlinked = event(EventKind::IdentityUnlinked, 6);
    assert_eq!(
        store.unlink_identity(HERE, &unlinked).expect("unlink"),
        IdentityUnlinked::Unlinked
    );
    assert_eq!(
        store.unlink_identity(HERE, &unlinked).expect("unlink"),
        IdentityUnlinked::NotLinked,
        "nothing left"
    );
    assert!(store.link_identity(&identity("c"), &linked).expect("link"));
    store
        .reset_owner([9u8; 32], 100, &event(EventKind::OwnerReset, 7))
        .expect("reset");
    assert_eq!(store.linked_identity().expect("read"), None);
    let kinds: Vec<String> = store
        .events(None, 50)
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "identity_unlinked").count(),
        1,
        "{kinds:?}"
    );
}

#[test]
fn a_credential_is_registered_once_and_an_owner_reset_forgets_passkeys() {
    let (_dir, store) = store();
    let passkey = |id: &str, credential: u8| StoredPasskey {
        id: id.into(),
        credential_id: vec![credential; 16],
        name: "Phone".into(),
        credential: "{}".into(),
        created_at: 5,
        last_used_at: None,
        rp_id: Some("claw.example.com".into()),
    };
    let added = event(EventKind::PasskeyAdded, 5);
    assert_eq!(
        store.add_passkey(&passkey("a", 1), &added).expect("add"),
        PasskeyAdded::NoOwner
    );
    claim(&store);
    assert_eq!(
        store.add_passkey(&passkey("a", 1), &added).expect("add"),
        PasskeyAdded::Added
    );
    assert_eq!(
        store.add_passkey(&passkey("b", 1), &added).expect("add"),
        PasskeyAdded::AlreadyRegistered
    );
    assert_eq!(
        store.add_passkey(&passkey("c", 2), &added).expect("add"),
        PasskeyAdded::Added
    );
    assert!(
        store
            .passkey_used("a", "{}", Some("{\"n\":1}"), 9)
            .expect("used")
    );
    assert!(store.passkey_used("c", "{}", None, 10).expect("used"));
    let kept = store.passkeys().expect("list");
    assert_eq!(kept.len(), 2);
    assert_eq!(
        (kept[0].credential.as_str(), kept[0].last_used_at),
        ("{\"n\":1}", Some(9))
    );
    assert_eq!(
        (kept[1].credential.as_str(), kept[1].last_used_at),
        ("{}", Some(10))
    );
    the_last_way_in_stays(&store);
    store
        .reset_owner([9u8; 32], 100, &event(EventKind::OwnerReset, 12))
        .expect("reset");
    assert!(store.passkeys().expect("list").is_empty());
    assert_eq!(
        store.webauthn_user_handle([5; 16]).expect("handle"),
        [5; 16],
        "a new owner, a new handle"
    );
}

#[test]
fn a_claim_with_an_identity_links_it_and_the_ways_in_count_only_passkeys_made_here() {
    let (_dir, store) = store();
    let code = [7u8; 32];
    store
        .issue_claim_code(code, 0, 100, &event(EventKind::ClaimCodeIssued, 0))
        .expect("issue");
    let identity = LinkedIdentity {
        issuer: "https://id.example.com".into(),
        subject: "owner".into(),
        email: None,
        linked_at: 1,
    };
    let way_in = FirstWayIn {
        password_hash: "hash".into(),
        identity: Some(identity.clone()),
    };
    let claimed = store.claim(code, &way_in, &session("s", 1), &event(EventKind::Claim, 1));
    assert_eq!(claimed.expect("claim"), ClaimOutcome::Claimed);
    assert_eq!(store.linked_identity().expect("read"), Some(identity));
    // The password off with only the identity: not while another issuer is configured;
    // allowed at its own, and the identity then stays.
    let off = event(EventKind::PasswordSignInOff, 2);
    let elsewhere = Here {
        issuer: Some("https://other.example.com"),
        ..HERE
    };
    assert_eq!(
        store
            .set_password_sign_in(false, elsewhere, &off)
            .expect("off"),
        PasswordSignIn::NeedsAnotherWayIn
    );
    assert_eq!(
        store.set_password_sign_in(false, HERE, &off).expect("off"),
        PasswordSignIn::Changed
    );
    let unlinked = event(EventKind::IdentityUnlinked, 3);
    assert_eq!(
        store.unlink_identity(HERE, &unlinked).expect("unlink"),
        IdentityUnlinked::LastWayIn
    );
    // A passkey made for another name is no way in here.
    let old = StoredPasskey {
        id: "old".into(),
        credential_id: vec![1; 16],
        name: "Old phone".into(),
        credential: "{}".into(),
        created_at: 4,
        last_used_at: None,
        rp_id: Some("old.example.com".into()),
    };
    store
        .add_passkey(&old, &event(EventKind::PasskeyAdded, 4))
        .expect("add");
    assert_eq!(
        store.unlink_identity(HERE, &unlinked).expect("unlink"),
        IdentityUnlinked::LastWayIn,
        "the old name's passkey does not count"
    );
    assert_eq!(
        store
            .unlink_identity(
                Here {
                    rp_id: Some("old.example.com"),
                    ..HERE
                },
                &unlinked
            )
            .expect("unlink"),
        IdentityUnlinked::Unlinked,
        "where it was made, it does"
    );
    assert_eq!(store.linked_identity().expect("read"), None);
}

#[test]
fn a_passkey_use_is_kept_only_against_the_record_it_was_verified_with() {
    let (_dir, store) = store();
    claim(&store);
    let passkey = StoredPasskey {
        id: "a".into(),
        credential_id: vec![1; 16],
        name: "Phone".into(),
        credential: "{\"counter\":1}".into(),
        created_at: 5,
        last_used_at: None,
        rp_id: None,
    };
    store
        .add_passkey(&passkey, &event(EventKind::PasskeyAdded, 5))
        .expect("add");
    let first = store.passkey_used("a", "{\"counter\":1}", Some("{\"counter\":2}"), 6);
    assert!(first.expect("used"));
    // A second sign-in verified against the same old record, at the same moment.
    let second = store.passkey_used("a", "{\"counter\":1}", Some("{\"counter\":2}"), 6);
    assert!(!second.expect("used"), "not taken");
    assert!(!store.passkey_used("gone", "{}", None, 7).expect("used"));
    assert_eq!(
        store.passkeys().expect("list")[0].credential,
        "{\"counter\":2}"
    );
    assert_eq!(store.known_webauthn_user_handle().expect("read"), None);
    let handle = store.webauthn_user_handle([3; 16]).expect("handle");
    assert_eq!(
        store.webauthn_user_handle([4; 16]).expect("handle"),
        handle,
        "made once"
    );
    assert_eq!(
        store.known_webauthn_user_handle().expect("read"),
        Some(handle.to_vec())
    );
}

/// With two passkeys "a" and "c" made here: the password off, the last passkey stays until
/// the password signs in again; never both off.
fn the_last_way_in_stays(store: &SqliteStore) {
    let removed = event(EventKind::PasskeyRemoved, 11);
    // Passkeys only: the last one stays until the password signs in again.
    let off = event(EventKind::PasswordSignInOff, 11);
    assert_eq!(
        store.set_password_sign_in(false, HERE, &off).expect("off"),
        PasswordSignIn::Changed
    );
    assert_eq!(
        store.set_password_sign_in(false, HERE, &off).expect("off"),
        PasswordSignIn::Unchanged
    );
    assert!(
        !store
            .owner()
            .expect("owner")
            .expect("owner")
            .password_sign_in
    );
    assert_eq!(
        store.remove_passkey("a", HERE, &removed).expect("remove"),
        PasskeyRemoved::Removed
    );
    assert_eq!(
        store.remove_passkey("c", HERE, &removed).expect("remove"),
        PasskeyRemoved::LastWayIn
    );
    assert_eq!(
        store.remove_passkey("a", HERE, &removed).expect("remove"),
        PasskeyRemoved::NoSuchPasskey
    );
    let on = event(EventKind::PasswordSignInOn, 11);
    assert_eq!(
        store.set_password_sign_in(true, HERE, &on).expect("on"),
        PasswordSignIn::Changed
    );
    assert_eq!(
        store.remove_passkey("c", HERE, &removed).expect("remove"),
        PasskeyRemoved::Removed
    );
    assert_eq!(
        store.set_password_sign_in(false, HERE, &off).expect("off"),
        PasswordSignIn::NeedsAnotherWayIn,
        "never both off"
    );
}
