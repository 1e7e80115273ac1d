//! What a stack status means for the next operation.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html>
//!
//! Statuses are compared as strings: the SDK returns statuses it does not
//! know (newer than its model) as unknown variants, and those must still be
//! classified by their suffix.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A finished operation; the stack can be updated.
    Stable,
    /// An update that failed with rollback disabled; it can be updated again
    /// but never skipped.
    UpdateFailed,
    /// Another operation is running.
    Busy,
    /// Created by a change set that was never executed: no resources yet.
    Review,
    /// The first create failed and rolled back (or failed to): the stack
    /// only holds the failure and must be deleted before a new create.
    FailedCreate,
    /// An update rollback failed: only `ContinueUpdateRollback` helps.
    UpdateRollbackFailed,
    /// A delete failed: some resource could not be removed.
    DeleteFailed,
    Deleted,
}

pub fn phase(status: &str) -> Phase {
    match status {
        "CREATE_COMPLETE"
        | "UPDATE_COMPLETE"
        | "UPDATE_ROLLBACK_COMPLETE"
        | "IMPORT_COMPLETE"
        | "IMPORT_ROLLBACK_COMPLETE" => Phase::Stable,
        "UPDATE_FAILED" => Phase::UpdateFailed,
        "REVIEW_IN_PROGRESS" => Phase::Review,
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => Phase::FailedCreate,
        "UPDATE_ROLLBACK_FAILED" | "IMPORT_ROLLBACK_FAILED" => Phase::UpdateRollbackFailed,
        "DELETE_FAILED" => Phase::DeleteFailed,
        "DELETE_COMPLETE" => Phase::Deleted,
        s if s.ends_with("_IN_PROGRESS") => Phase::Busy,
        // An unknown terminal status: treat as stable rather than refuse;
        // CloudFormation itself rejects an update it cannot take.
        _ => Phase::Stable,
    }
}

/// A finished status that means the operation did what was asked.
pub fn succeeded(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" | "DELETE_COMPLETE"
    )
}

/// Resource statuses that report a failure.
pub fn resource_failed(status: &str) -> bool {
    status.ends_with("_FAILED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolled_back_first_create_must_be_deleted() {
        assert_eq!(phase("ROLLBACK_COMPLETE"), Phase::FailedCreate);
        assert_eq!(phase("ROLLBACK_FAILED"), Phase::FailedCreate);
    }

    #[test]
    fn any_operation_in_progress_is_busy_except_an_unexecuted_change_set() {
        for busy in [
            "CREATE_IN_PROGRESS",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "DELETE_IN_PROGRESS",
            "IMPORT_IN_PROGRESS",
            "SOME_FUTURE_IN_PROGRESS",
        ] {
            assert_eq!(phase(busy), Phase::Busy, "{busy}");
        }
        assert_eq!(phase("REVIEW_IN_PROGRESS"), Phase::Review);
    }

    #[test]
    fn a_rolled_back_update_can_be_deployed_again_but_has_not_succeeded() {
        assert_eq!(phase("UPDATE_ROLLBACK_COMPLETE"), Phase::Stable);
        assert!(!succeeded("UPDATE_ROLLBACK_COMPLETE"));
    }
}
