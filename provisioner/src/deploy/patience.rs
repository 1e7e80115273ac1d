//! How a wait loop rides out throttling and a lost connection.
//!
//! The SDK retries each call a few times (see `crate::aws::retry_config`),
//! but a wait lasts as long as CloudFormation takes (20 minutes for a
//! Redshift cluster) while every running stack polls two APIs: sustained
//! throttling outlasts those retries and drains the SDK's retry token
//! bucket. A failed poll is not a failed operation: CloudFormation carries
//! on. So a poll that fails with throttling or a transient network error is
//! skipped, and the next one waits longer (exponential backoff with jitter),
//! up to [`MAX_SKIPPED_POLLS`] in a row.

use std::time::Duration;

use super::error::{AwsErrorKind, DeployError};

/// Polls skipped in a row before the wait gives up: with a 2 s poll and the
/// 60 s cap, about 15 minutes without one answer.
pub const MAX_SKIPPED_POLLS: u32 = 20;

/// Longest pause between two polls.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Whether a poll that failed this way is worth another try.
pub fn transient(error: &DeployError) -> bool {
    matches!(
        error,
        DeployError::Aws(e) if matches!(e.kind, AwsErrorKind::Throttled | AwsErrorKind::Unreachable)
    )
}

/// Failed polls in a row and the pause before the next one.
#[derive(Debug, Clone, Default)]
pub struct Patience {
    skipped: u32,
}

impl Patience {
    /// A poll answered: the next pause is the usual one.
    pub fn answered(&mut self) {
        self.skipped = 0;
    }

    /// A poll failed with `error`. `Some(pause)` when it is transient and
    /// patience remains; `None` when the error should end the wait.
    pub fn skip(&mut self, error: &DeployError, poll: Duration) -> Option<Duration> {
        if !transient(error) || self.skipped >= MAX_SKIPPED_POLLS {
            return None;
        }
        self.skipped += 1;
        Some(pause(poll, self.skipped))
    }
}

/// `poll` doubled per skipped poll, capped, with "equal jitter" (half
/// fixed, half random) so parallel stacks do not poll in step.
/// <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>
pub fn pause(poll: Duration, skipped: u32) -> Duration {
    let full = poll.saturating_mul(1 << skipped.min(16)).min(MAX_PAUSE);
    full / 2 + full.mul_f64(random_fraction() / 2.0)
}

/// A number in [0, 1) from the standard library's per-process random keys.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::error::AwsError;

    fn aws(kind: AwsErrorKind) -> DeployError {
        DeployError::Aws(AwsError {
            action: "looking up stack s".into(),
            kind,
            code: None,
            message: String::new(),
        })
    }

    #[test]
    fn throttling_and_a_lost_connection_skip_polls_with_growing_pauses_until_patience_runs_out() {
        let mut patience = Patience::default();
        let poll = Duration::from_secs(2);
        let first = patience.skip(&aws(AwsErrorKind::Throttled), poll).unwrap();
        assert!(first >= Duration::from_secs(2) && first <= Duration::from_secs(4));
        let second = patience
            .skip(&aws(AwsErrorKind::Unreachable), poll)
            .unwrap();
        assert!(second >= Duration::from_secs(4) && second <= Duration::from_secs(8));
        for _ in 2..MAX_SKIPPED_POLLS {
            let pause = patience.skip(&aws(AwsErrorKind::Throttled), poll).unwrap();
            assert!(pause <= MAX_PAUSE, "{pause:?}");
        }
        assert!(patience.skip(&aws(AwsErrorKind::Throttled), poll).is_none());
        patience.answered();
        assert!(patience.skip(&aws(AwsErrorKind::Throttled), poll).is_some());
    }

    #[test]
    fn expired_credentials_and_access_denied_end_the_wait_at_once() {
        let mut patience = Patience::default();
        for kind in [AwsErrorKind::ExpiredCredentials, AwsErrorKind::AccessDenied] {
            assert!(patience.skip(&aws(kind), Duration::from_secs(2)).is_none());
        }
    }
}
