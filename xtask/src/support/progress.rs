//! Progress displays (indicatif), drawn on stderr and hidden when it is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner for work whose size is not known in advance.
pub fn units(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {msg}").expect("valid template"),
    );
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    if bar.is_hidden() {
        eprintln!("{what} ...");
    }
    bar
}

/// A bar over a known number of steps (e.g. benchmark runs).
pub fn steps(what: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} [{elapsed_precise}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// A byte-count bar, shown only for work big enough to wait on (≥ 256 MiB).
pub fn bytes_bar(what: &str, total: u64) -> ProgressBar {
    if total < 256 << 20 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// A download: a byte bar when the size is known, else a byte counter.
pub fn download(what: &str, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (ProgressBar::new(total), "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})"),
        None => (ProgressBar::new_spinner(), "{spinner} {prefix}: {bytes} ({bytes_per_sec})"),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar.set_prefix(what.to_string());
    if bar.is_hidden() {
        eprintln!("{what} ...");
    }
    bar
}
