//! How a running send shows itself: a bar with rows per second on a
//! terminal, a plain line every few seconds otherwise (logs, CI, tests).

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives the rows settled (accepted, rejected or failed) as batches end.
pub trait RowProgress: Send + Sync {
    fn start(&self, total: u64);
    fn advance(&self, rows: u64);
    fn finish(&self);
}

/// `sent N of M rows (R rows/s)` at most every `every`, and at the end.
pub struct PlainRows<W> {
    state: Mutex<Plain<W>>,
    every: Duration,
}

struct Plain<W> {
    out: W,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl<W> std::fmt::Debug for PlainRows<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainRows")
    }
}

impl<W: Write + Send> PlainRows<W> {
    pub fn new(out: W, every: Duration) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(Plain {
                out,
                total: 0,
                done: 0,
                started: now,
                last_line: now,
            }),
            every,
        }
    }

    pub fn into_inner(self) -> W {
        self.state
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plain<W>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<W: Write> Plain<W> {
    fn line(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        // Progress is best effort: a closed pipe must not stop the run.
        let _ = writeln!(
            self.out,
            "sent {} of {} rows ({:.0} rows/s)",
            self.done,
            self.total,
            self.done as f64 / seconds
        );
        self.last_line = Instant::now();
    }
}

impl<W: Write + Send> RowProgress for PlainRows<W> {
    fn start(&self, total: u64) {
        let mut state = self.lock();
        state.total = total;
        state.started = Instant::now();
        state.last_line = state.started;
    }

    fn advance(&self, rows: u64) {
        let mut state = self.lock();
        state.done += rows;
        if state.last_line.elapsed() >= self.every && state.done < state.total {
            state.line();
        }
    }

    fn finish(&self) {
        self.lock().line();
    }
}

/// A bar on standard error.
#[derive(Debug)]
pub struct LiveRows {
    bar: ProgressBar,
}

impl Default for LiveRows {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveRows {
    pub fn new() -> Self {
        let style = ProgressStyle::with_template(
            "{bar:30} {human_pos}/{human_len} rows  {per_sec}  {elapsed} (eta {eta})",
        )
        .expect("the template is valid");
        Self {
            bar: ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
                .with_style(style),
        }
    }
}

impl RowProgress for LiveRows {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
        self.bar.reset_elapsed();
        self.bar.enable_steady_tick(Duration::from_millis(200));
    }

    fn advance(&self, rows: u64) {
        self.bar.inc(rows);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_progress_prints_rows_sent_with_the_rate_and_a_last_line() {
        let progress = PlainRows::new(Vec::new(), Duration::ZERO);
        progress.start(1000);
        progress.advance(500);
        progress.advance(500);
        progress.finish();
        let text = String::from_utf8(progress.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("sent 500 of 1000 rows ("), "{text}");
        assert!(lines[1].starts_with("sent 1000 of 1000 rows ("), "{text}");
        assert!(lines[1].ends_with(" rows/s)"), "{text}");
    }
}
