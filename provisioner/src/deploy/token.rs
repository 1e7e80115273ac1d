//! Idempotency tokens for the calls that start work in CloudFormation.
//!
//! The SDK retries a call whose answer was lost; without a token the
//! retry of a `CreateChangeSet`, `ExecuteChangeSet` or `DeleteStack` whose
//! first attempt succeeded fails (`AlreadyExists`, `InvalidChangeSetStatus`)
//! while the stack proceeds. With one, CloudFormation recognises the retry.
//! CloudFormation also stamps every event of an operation with its
//! `ClientRequestToken`, which is how the engine tells this operation's
//! events from stale ones.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html>

/// Longest token CloudFormation takes.
const MAX_LEN: usize = 128;

/// The token of `action` ("exec", "delete", ...) on `stack` in the run
/// `run` (unique per run, e.g. the change set name): the same for every
/// retry of the call, different for every other operation. Only letters,
/// digits and dashes, a letter first (`[a-zA-Z][-a-zA-Z0-9]*`).
pub fn for_operation(action: &str, stack: &str, run: &str) -> String {
    let mut token: String = [action, run, stack]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if !token.starts_with(|c: char| c.is_ascii_alphabetic()) {
        token.insert(0, 't');
    }
    token.truncate(MAX_LEN);
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_the_action_the_run_and_the_stack_in_the_allowed_characters() {
        assert_eq!(
            for_operation("exec", "retail-dev-network", "provisioner-1700000000000-42"),
            "exec-provisioner-1700000000000-42-retail-dev-network"
        );
        assert_eq!(for_operation("delete", "a_b", ""), "delete-a-b");
        assert!(for_operation("x", &"s".repeat(300), "run").len() <= MAX_LEN);
    }
}
