//! Progress bars (indicatif) that stay out of logs, and stdout printing that does not garble them.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle, WeakProgressBar};

use crate::cli::CommonArgs;

/// The most recently created visible bar; [`print_line`] suspends it while printing.
static ACTIVE: Mutex<Option<WeakProgressBar>> = Mutex::new(None);

fn active_bar() -> Option<ProgressBar> {
    let guard = ACTIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.as_ref().and_then(WeakProgressBar::upgrade)
}

/// Prints one line to stdout. If a [`Progress`] bar is on screen it is hidden while the line is
/// written and redrawn below it. Write errors (e.g. a closed pipe under `| head`) are ignored
/// instead of panicking like `println!`.
pub fn print_line(line: impl AsRef<str>) {
    let line = line.as_ref();
    let write = || {
        if cfg!(test) {
            // Captured by the test harness (direct writes to stdout are not).
            println!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    match active_bar() {
        Some(bar) if !bar.is_finished() => bar.suspend(write),
        _ => write(),
    }
}

/// Like [`print_line`] but to stderr (warnings).
pub fn eprint_line(line: impl AsRef<str>) {
    let line = line.as_ref();
    let write = || {
        if cfg!(test) {
            eprintln!("{line}");
        } else {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    };
    match active_bar() {
        Some(bar) if !bar.is_finished() => bar.suspend(write),
        _ => write(),
    }
}

/// A progress bar on stderr with a message, position/length and ETA, e.g.
/// `fitting RFM [#########>----------] 12/30 3s (ETA 4s)`.
///
/// It is hidden (every method is a cheap no-op) when `--quiet` is set or stderr is not a
/// terminal, so logs and test output stay clean. It disappears from the screen when finished or
/// dropped. `Progress` is `Sync`: share `&Progress` with rayon workers and call
/// [`inc`](Progress::inc) from them.
///
/// ```
/// use paper_repro::{cli::CommonArgs, report::Progress};
/// let common = CommonArgs::default();
/// let bar = Progress::new(3, "iterations", &common);
/// for i in 0..3 {
///     bar.set_message(format!("iteration {i}"));
///     bar.inc(1);
/// }
/// bar.finish();
/// ```
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `len` steps, shown unless `common.quiet` or stderr is not a terminal.
    pub fn new(len: u64, message: impl Into<String>, common: &CommonArgs) -> Progress {
        Progress::with_visibility(Some(len), message, !common.quiet)
    }

    /// A spinner for work of unknown length (shows the message, elapsed time and a counter).
    pub fn spinner(message: impl Into<String>, common: &CommonArgs) -> Progress {
        Progress::with_visibility(None, message, !common.quiet)
    }

    /// A bar (`len: Some`) or spinner (`len: None`), shown only if `visible` and stderr is a
    /// terminal.
    pub fn with_visibility(len: Option<u64>, message: impl Into<String>, visible: bool) -> Progress {
        if !visible || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let template = match len {
            Some(_) => "{spinner:.green} {msg} [{wide_bar:.cyan/blue}] {pos}/{len} {elapsed} (ETA {eta})",
            None => "{spinner:.green} {msg} {pos} {elapsed}",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(Cow::Owned(message.into()))
            .with_finish(ProgressFinish::AndClear);
        bar.enable_steady_tick(Duration::from_millis(200));
        let mut guard = ACTIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Some(bar.downgrade());
        Progress { bar: Some(bar) }
    }

    /// A bar that never shows anything.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Whether the bar is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Sets the position.
    pub fn set_position(&self, pos: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
        }
    }

    /// Changes the total number of steps.
    pub fn set_length(&self, len: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(len);
        }
    }

    /// Changes the message shown before the bar.
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(Cow::Owned(message.into()));
        }
    }

    /// Runs `f` with the bar hidden (for printing without garbling it); see also [`print_line`].
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar from the screen (also happens on drop).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_progress_is_hidden_and_harmless() {
        let common = CommonArgs { quiet: true, ..CommonArgs::default() };
        let p = Progress::new(10, "x", &common);
        assert!(!p.is_visible());
        p.inc(3);
        p.set_message("y");
        assert_eq!(p.suspend(|| 5), 5);
        p.finish();
        let s = Progress::spinner("s", &common);
        assert!(!s.is_visible());
    }
}
