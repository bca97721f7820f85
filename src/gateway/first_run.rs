//! How far the first run has come: OpenClaw installed, a provider chosen (with its key when it
//! takes one), the gateway ready once. Until all three are done the pages lead the owner
//! through them instead of showing an empty dashboard.

use std::path::Path;

use super::providers::ProviderKind;
use super::runtime;
use super::settings;
use crate::store::{self, SharedStore, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Install,
    ChooseProvider,
    Start,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FirstRun {
    pub(crate) installed: bool,
    pub(crate) provider_saved: bool,
    pub(crate) ran_once: bool,
}

impl FirstRun {
    /// Whether a start can work: OpenClaw is there and a provider is chosen.
    pub(crate) fn can_start(self) -> bool {
        self.installed && self.provider_saved
    }

    /// What the owner should do next, or `None` once the gateway has been ready once.
    pub(crate) fn next(self) -> Option<Step> {
        if !self.installed {
            Some(Step::Install)
        } else if !self.provider_saved {
            Some(Step::ChooseProvider)
        } else if !self.ran_once {
            Some(Step::Start)
        } else {
            None
        }
    }
}

/// How far the first run has come. `installed` is asked only while the gateway has never
/// been ready (finding the runtime may run `openclaw --version`); a caller that already knows
/// passes the answer ready-made.
/// Whether the runtime is there now, for [`progress`].
pub(crate) async fn runtime_installed(runtime_dir: &Path, command: Option<&Path>) -> bool {
    runtime::installed(runtime_dir, command).await.is_some()
}

pub(crate) async fn progress(
    store: &SharedStore,
    installed: impl Future<Output = bool>,
) -> Result<FirstRun, StoreError> {
    let ran_once = store::run(store, Store::gateway_first_ready_at)
        .await?
        .is_some();
    if ran_once {
        return Ok(FirstRun {
            installed: true,
            provider_saved: true,
            ran_once,
        });
    }
    let installed = installed.await;
    let current = settings::current(store).await?;
    let provider_saved = current
        .provider
        .as_deref()
        .and_then(ProviderKind::from_id)
        .is_some_and(|kind| current.key.set || !kind.needs_key());
    Ok(FirstRun {
        installed,
        provider_saved,
        ran_once,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_step_is_the_first_not_done() {
        let run = |installed, provider_saved, ran_once| {
            FirstRun {
                installed,
                provider_saved,
                ran_once,
            }
            .next()
        };
        assert_eq!(run(false, true, true), Some(Step::Install));
        assert_eq!(run(true, false, false), Some(Step::ChooseProvider));
        assert_eq!(run(true, true, false), Some(Step::Start));
        assert_eq!(run(true, true, true), None);
    }
}
