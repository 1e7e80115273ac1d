//! How a running deploy or destroy shows itself: plain lines (logs, CI,
//! tests) or, on a terminal, a live view with one spinner per running stack
//! and resource events scrolling above.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::cfn::StackEvent;

/// Receives what happens to each stack. Called from concurrently running
/// stack operations, so implementations lock what they write to.
pub trait Progress: Sync + std::fmt::Debug {
    /// `action` is e.g. "creating", "updating", "deleting"; `resources` is
    /// the template's resource count, when known.
    fn stack_started(&self, stack: &str, action: &str, resources: Option<usize>);
    fn event(&self, stack: &str, event: &StackEvent);
    /// `summary` is e.g. "created in 41.2s", "no changes".
    fn stack_finished(&self, stack: &str, summary: &str);
    fn note(&self, line: &str);
    /// Runs `f` with the live view out of the way (for a question).
    fn suspend(&self, f: &mut dyn FnMut()) {
        f()
    }
}

fn event_line(stack: &str, event: &StackEvent) -> String {
    let mut line = format!(
        "{stack} | {} | {} | {} {}",
        event.timestamp, event.status, event.resource_type, event.logical_id
    );
    if let Some(reason) = event.reason.as_deref().filter(|r| !r.is_empty()) {
        line.push_str(" | ");
        line.push_str(reason);
    }
    line
}

/// One line per event and per stack start and end.
pub struct PlainProgress<W> {
    out: Mutex<W>,
}

impl<W> std::fmt::Debug for PlainProgress<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainProgress")
    }
}

impl<W: Write + Send> PlainProgress<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // Progress is best effort: a closed pipe must not fail the deploy.
        let _ = writeln!(out, "{line}");
    }
}

impl<W: Write + Send> Progress for PlainProgress<W> {
    fn stack_started(&self, stack: &str, action: &str, _resources: Option<usize>) {
        self.line(&format!("{stack}: {action}"));
    }

    fn event(&self, stack: &str, event: &StackEvent) {
        self.line(&event_line(stack, event));
    }

    fn stack_finished(&self, stack: &str, summary: &str) {
        self.line(&format!("{stack}: {summary}"));
    }

    fn note(&self, line: &str) {
        self.line(line);
    }
}

/// Spinners on standard error, one per running stack.
#[derive(Debug)]
pub struct LiveProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Default for LiveProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveProgress {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for LiveProgress {
    fn stack_started(&self, stack: &str, action: &str, resources: Option<usize>) {
        let (bar, template) = match resources {
            Some(total) => (
                ProgressBar::new(total as u64),
                "{spinner} {prefix:.bold} {pos}/{len} resources {msg} {elapsed:.dim}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{spinner} {prefix:.bold} {msg} {elapsed:.dim}",
            ),
        };
        let bar = self.multi.add(
            bar.with_style(ProgressStyle::with_template(template).expect("the template is valid"))
                .with_prefix(stack.to_string()),
        );
        bar.set_message(action.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        // A stack deleted before it is created again gets a fresh bar.
        if let Some(previous) = self.bars().insert(stack.to_string(), bar) {
            previous.finish_and_clear();
            self.multi.remove(&previous);
        }
    }

    fn event(&self, stack: &str, event: &StackEvent) {
        if let Some(bar) = self.bars().get(stack) {
            // A resource done, counted once (rollbacks revisit resources).
            if event.logical_id != stack
                && matches!(event.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE")
            {
                bar.inc(1);
            }
            bar.set_message(format!("{} {}", event.status, event.logical_id));
        }
        let _ = self.multi.println(event_line(stack, event));
    }

    fn stack_finished(&self, stack: &str, summary: &str) {
        match self.bars().remove(stack) {
            Some(bar) => {
                bar.finish_and_clear();
                self.multi.remove(&bar);
                let _ = self.multi.println(format!("{stack}: {summary}"));
            }
            None => {
                let _ = self.multi.println(format!("{stack}: {summary}"));
            }
        }
    }

    fn note(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    fn suspend(&self, f: &mut dyn FnMut()) {
        self.multi.suspend(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_progress_prints_one_line_per_event_with_its_reason() {
        let progress = PlainProgress::new(Vec::new());
        progress.stack_started("Network", "creating", Some(17));
        progress.event(
            "Network",
            &StackEvent {
                id: "1".into(),
                logical_id: "Vpc".into(),
                resource_type: "AWS::EC2::VPC".into(),
                status: "CREATE_FAILED".into(),
                reason: Some("limit exceeded".into()),
                timestamp: "2026-01-01T00:00:00Z".into(),
                ..Default::default()
            },
        );
        let text = String::from_utf8(progress.into_inner()).unwrap();
        assert_eq!(
            text,
            "Network: creating\n\
             Network | 2026-01-01T00:00:00Z | CREATE_FAILED | AWS::EC2::VPC Vpc | limit exceeded\n"
        );
    }
}
