//! The owner's password, checked under the abuse limits. What they must hold at once:
//! guessing stays slow however many addresses it comes from, and nobody can keep the owner
//! out by guessing wrong.
//!
//! - An address (an IPv6 /64) gets five free failures, then a lockout doubling to 15 min.
//!   Its checks run one at a time, so a burst of concurrent guesses meets the lockout its
//!   first failures start.
//! - The account gets ten free failures (checks in progress count as failures to be, and the
//!   owner signing in does not clear them: that proves the owner, not that an attack ended). Past
//!   them it is under attack: a browser not known from an earlier sign-in gets a check only
//!   from a small budget shared by every such browser (about one a second), and a wrong
//!   guess locks its address until the attack's lockout ends. Nothing waits in a queue, so a
//!   flood cannot fill one.
//! - A browser the owner signed in with before (its device cookie) has a lane of its own:
//!   its own lockout instead of its address's, its own password-hashing slot, no share of
//!   the budget. The attack never delays it, nor does a typo of the owner's lock it for the
//!   attack's length.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::limiter::{Lockout, LockoutPolicy, RateLimit};
use super::password::{self, PasswordHashing};

const FORGET_FAILURES_AFTER: Duration = Duration::from_hours(1);
const MAX_LOCKOUT: Duration = Duration::from_mins(15);
const ADDRESS_FREE_FAILURES: u32 = 5;
const ACCOUNT_FREE_FAILURES: u32 = 10;
const DEVICE_FREE_FAILURES: u32 = 5;
/// Checks for unknown browsers while the account is under attack, all addresses together.
const STRANGERS_BURST: u32 = 3;
const STRANGERS_PER_SECOND: f64 = 1.0;

/// Why a check did not take place or did not pass.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Locked out, or over the budget: try again after this long.
    Wait(Duration),
    /// The password is wrong; `locked` when this failure started a lockout.
    Wrong { locked: bool },
}

/// Whose turn a check is: an address, or a known browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Turn {
    Address(IpAddr),
    Device([u8; 32]),
}

pub(crate) struct PasswordGuard {
    hashing: PasswordHashing,
    /// The known browsers' lane.
    device_hashing: PasswordHashing,
    addresses: Lockout<IpAddr>,
    account: Lockout<()>,
    devices: Lockout<[u8; 32]>,
    strangers_under_attack: RateLimit<()>,
    turns: Turns<Turn>,
    in_flight: AtomicUsize,
}

impl PasswordGuard {
    pub(crate) fn new(hashing_slots: usize) -> Self {
        let lockout = |free_failures| LockoutPolicy {
            free_failures,
            base: Duration::from_secs(1),
            max: MAX_LOCKOUT,
            forget_after: FORGET_FAILURES_AFTER,
        };
        Self {
            hashing: PasswordHashing::new(hashing_slots),
            device_hashing: PasswordHashing::new(1),
            addresses: Lockout::new(lockout(ADDRESS_FREE_FAILURES)),
            account: Lockout::new(lockout(ACCOUNT_FREE_FAILURES)),
            devices: Lockout::new(lockout(DEVICE_FREE_FAILURES)),
            strangers_under_attack: RateLimit::new(STRANGERS_BURST, STRANGERS_PER_SECOND),
            turns: Turns::default(),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Checks `password` against `stored`, from `address`, in a browser that is a known
    /// device (`device`, its token's hash) or not.
    pub(crate) async fn check(
        &self,
        password: &str,
        stored: Option<String>,
        address: IpAddr,
        device: Option<[u8; 32]>,
    ) -> Result<(), CheckError> {
        let turn = device.map_or(Turn::Address(address), Turn::Device);
        let _turn = self.turns.take(turn).await;
        let now = Instant::now();
        let locked = match device {
            Some(device) => self.devices.check(&device, now),
            None => self.addresses.check(&address, now),
        };
        locked.map_err(|wait| CheckError::Refused(Refusal::Wait(wait)))?;
        let checking = InFlight::start(&self.in_flight);
        let under_attack = self.account.locked_until(&(), now).is_some()
            || self.account.failures(&(), now) + checking.others() >= ACCOUNT_FREE_FAILURES;
        if device.is_none() && under_attack {
            self.strangers_under_attack
                .take(&(), now)
                .map_err(|wait| CheckError::Refused(Refusal::Wait(wait)))?;
        }
        // Bound the work before hashing: a megabyte "password" is refused like a wrong one.
        let plausible = password.chars().count() <= password::MAX_CHARS;
        let candidate = if plausible { password } else { "" }.to_owned();
        let hashing = if device.is_some() {
            &self.device_hashing
        } else {
            &self.hashing
        };
        let ok = hashing
            .verify(candidate, stored)
            .await
            .map_err(CheckError::Hashing)?
            && plausible;
        // `checking` lives until the outcome is recorded: a failed check counts as one in
        // progress or as a recorded failure, never as neither (in that gap, concurrent
        // guesses slipped past the account's free failures).
        let now = Instant::now();
        if ok {
            match device {
                Some(device) => self.devices.reset(&device),
                None => self.addresses.reset(&address),
            }
            // The account's failures stay: the owner signing in proves the owner, not that
            // the attack is over, and clearing them handed a flood ten more free checks.
            drop(checking);
            return Ok(());
        }
        let mut locked = self.account.record_failure(&(), now).is_some();
        if let Some(device) = device {
            locked |= self.devices.record_failure(&device, now).is_some();
        } else {
            locked |= self.addresses.record_failure(&address, now).is_some();
            // While the account is under attack each wrong guess from an address costs it the
            // rest of the attack's lockout: every address gets one try per lockout.
            if let Some(until) = self.account.locked_until(&(), now) {
                self.addresses.lock_until(&address, until);
                locked = true;
            }
        }
        drop(checking);
        Err(CheckError::Refused(Refusal::Wrong { locked }))
    }

    /// Hashes a new password (in the common lane).
    pub(crate) async fn hash(&self, password: String) -> Result<String, password::HashError> {
        self.hashing.hash(password).await
    }

    /// Forgets every failure and lockout (a new owner starts clean).
    pub(crate) fn clear(&self) {
        self.addresses.clear();
        self.account.clear();
        self.devices.clear();
    }
}

#[derive(Debug)]
pub(crate) enum CheckError {
    Refused(Refusal),
    Hashing(password::HashError),
}

/// Counts a check in progress while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }

    /// Checks in progress besides this one.
    fn others(&self) -> u32 {
        u32::try_from(self.0.load(Ordering::SeqCst).saturating_sub(1)).unwrap_or(u32::MAX)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One at a time per key: the holder of a key's turn runs, the others wait for it.
struct Turns<K>(Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>);

impl<K> Default for Turns<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

struct TurnGuard<'a, K: Eq + Hash> {
    turns: &'a Turns<K>,
    key: K,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl<K: Eq + Hash + Clone> Turns<K> {
    async fn take(&self, key: K) -> TurnGuard<'_, K> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        TurnGuard {
            turns: self,
            key,
            _held: lock.lock_owned().await,
        }
    }
}

impl<K: Eq + Hash> Drop for TurnGuard<'_, K> {
    fn drop(&mut self) {
        let mut turns = self.turns.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Nobody else holds or waits for this key: it goes (the map stays as small as the
        // number of checks at once).
        if turns
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) <= 2)
        {
            turns.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stored(guard: &PasswordGuard) -> Option<String> {
        Some(guard.hash("the right password".into()).await.expect("hash"))
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, last])
    }

    /// Concurrent wrong guesses from one address meet the lockout the first ones start.
    #[tokio::test]
    async fn a_burst_from_one_address_meets_its_lockout() {
        let guard = Arc::new(PasswordGuard::new(4));
        let hash = stored(&guard).await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (guard, hash) = (guard.clone(), hash.clone());
            tasks.push(tokio::spawn(async move {
                guard.check("wrong", hash, ip(1), None).await
            }));
        }
        let mut checked = 0;
        for task in tasks {
            if matches!(
                task.await.expect("task"),
                Err(CheckError::Refused(Refusal::Wrong { .. }))
            ) {
                checked += 1;
            }
        }
        assert_eq!(
            checked,
            ADDRESS_FREE_FAILURES + 1,
            "the rest waited, then were refused"
        );
    }

    /// Under attack, strangers share a small budget, a known device does not, and the
    /// owner's right password from a fresh address is checked when the budget allows.
    #[tokio::test]
    async fn an_attack_slows_strangers_but_not_the_owners_device() {
        let guard = PasswordGuard::new(4);
        let hash = stored(&guard).await;
        for n in 0..u8::try_from(ACCOUNT_FREE_FAILURES).expect("small") {
            let _ = guard.check("wrong", hash.clone(), ip(n), None).await;
        }
        let mut waited = 0;
        for n in 100..120 {
            if let Err(CheckError::Refused(Refusal::Wait(_))) =
                guard.check("wrong", hash.clone(), ip(n), None).await
            {
                waited += 1;
            }
        }
        assert!(waited >= 15, "most strangers wait: {waited} of 20");
        let device = Some([7; 32]);
        assert!(
            guard
                .check("the right password", hash.clone(), ip(1), device)
                .await
                .is_ok(),
            "the owner's browser is in at once, even from a locked address"
        );
    }

    /// The owner signing in during an attack does not end it: strangers still share the
    /// budget afterwards (the account's failures used to be cleared, handing a flood ten
    /// more free checks each time the owner signed in).
    #[tokio::test]
    async fn the_owner_signing_in_does_not_end_an_attack() {
        let guard = PasswordGuard::new(4);
        let hash = stored(&guard).await;
        for n in 0..u8::try_from(ACCOUNT_FREE_FAILURES).expect("small") {
            let _ = guard.check("wrong", hash.clone(), ip(n), None).await;
        }
        let device = Some([7; 32]);
        assert!(
            guard
                .check("the right password", hash.clone(), ip(1), device)
                .await
                .is_ok()
        );
        let mut checked = 0;
        for n in 100..110 {
            if let Err(CheckError::Refused(Refusal::Wrong { .. })) =
                guard.check("wrong", hash.clone(), ip(n), None).await
            {
                checked += 1;
            }
        }
        assert!(
            checked <= STRANGERS_BURST + 1,
            "{checked} of 10 strangers were checked after the owner signed in"
        );
    }
}
