//! Runs one operation per stack in dependency order, independent stacks at
//! the same time (at most `concurrency`). After the first failure nothing
//! new starts; what runs is allowed to finish, so no stack is abandoned
//! half-way by the tool itself.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

/// A stack and the stacks that must finish before it starts.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub after: Vec<String>,
}

/// What became of one stack.
#[derive(Debug)]
pub enum Run<T, E> {
    Done(T),
    Failed(E),
    /// Not started: a stack it waits for failed, or a failure elsewhere
    /// stopped the run.
    NotStarted {
        blocked_by: Option<String>,
    },
}

/// Runs `operation` on every node, each after the nodes it waits for
/// (ids outside `nodes` are ignored), in input order among the ready ones.
/// Returns one result per node, in input order.
pub async fn run<T, E, F, Fut>(
    nodes: &[Node],
    concurrency: usize,
    operation: F,
) -> Vec<(String, Run<T, E>)>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut results: BTreeMap<String, Run<T, E>> = BTreeMap::new();
    let mut succeeded: BTreeSet<String> = BTreeSet::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    let mut failed = false;
    loop {
        if !failed {
            for node in nodes {
                if running.len() >= concurrency.max(1) {
                    break;
                }
                if started.contains(&node.id) {
                    continue;
                }
                let ready = node
                    .after
                    .iter()
                    .filter(|d| known.contains(d.as_str()))
                    .all(|d| succeeded.contains(d));
                if ready {
                    started.insert(node.id.clone());
                    let id = node.id.clone();
                    let future = operation(id.clone());
                    running.push(async move { (id, future.await) });
                }
            }
        }
        let Some((id, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(value) => {
                succeeded.insert(id.clone());
                results.insert(id, Run::Done(value));
            }
            Err(error) => {
                failed = true;
                results.insert(id, Run::Failed(error));
            }
        }
    }
    nodes
        .iter()
        .map(|node| {
            let run = results.remove(&node.id).unwrap_or_else(|| Run::NotStarted {
                blocked_by: node
                    .after
                    .iter()
                    .find(|d| known.contains(d.as_str()) && !succeeded.contains(*d))
                    .cloned(),
            });
            (node.id.clone(), run)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    fn node(id: &str, after: &[&str]) -> Node {
        Node {
            id: id.into(),
            after: after.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn a_stack_starts_only_after_the_stacks_it_imports_from() {
        let log = Mutex::new(Vec::new());
        let nodes = [
            node("Network", &[]),
            node("Storage", &[]),
            node("Warehouse", &["Network", "Storage"]),
        ];
        let results = run(&nodes, 4, |id| {
            let log = &log;
            async move {
                log.lock().unwrap().push(format!("start {id}"));
                tokio::time::sleep(Duration::from_millis(if id == "Network" { 20 } else { 1 }))
                    .await;
                log.lock().unwrap().push(format!("end {id}"));
                Ok::<_, ()>(())
            }
        })
        .await;
        assert!(results.iter().all(|(_, r)| matches!(r, Run::Done(()))));
        let log = log.into_inner().unwrap();
        assert_eq!(
            &log[..2],
            ["start Network", "start Storage"],
            "independent stacks run together"
        );
        assert_eq!(log.last().unwrap(), "end Warehouse");
        let warehouse = log.iter().position(|l| l == "start Warehouse").unwrap();
        let network = log.iter().position(|l| l == "end Network").unwrap();
        assert!(warehouse > network);
    }

    #[tokio::test]
    async fn concurrency_one_runs_stacks_one_at_a_time_in_order() {
        let log = Mutex::new(Vec::new());
        let nodes = [node("A", &[]), node("B", &[]), node("C", &[])];
        run(&nodes, 1, |id| {
            let log = &log;
            async move {
                log.lock().unwrap().push(format!("start {id}"));
                tokio::task::yield_now().await;
                log.lock().unwrap().push(format!("end {id}"));
                Ok::<_, ()>(())
            }
        })
        .await;
        assert_eq!(
            log.into_inner().unwrap(),
            ["start A", "end A", "start B", "end B", "start C", "end C"]
        );
    }

    #[tokio::test]
    async fn after_a_failure_dependents_and_new_stacks_do_not_start() {
        let nodes = [node("A", &[]), node("B", &["A"]), node("C", &[])];
        let results = run(&nodes, 1, |id| async move {
            if id == "A" { Err("boom") } else { Ok(()) }
        })
        .await;
        assert!(matches!(results[0].1, Run::Failed("boom")));
        assert!(matches!(&results[1].1, Run::NotStarted { blocked_by: Some(b) } if b == "A"));
        assert!(matches!(results[2].1, Run::NotStarted { blocked_by: None }));
    }

    #[tokio::test]
    async fn dependencies_outside_the_selection_are_not_waited_for() {
        let nodes = [node("B", &["A"])];
        let results = run(&nodes, 2, |_| async { Ok::<_, ()>(()) }).await;
        assert!(matches!(results[0].1, Run::Done(())));
    }
}
