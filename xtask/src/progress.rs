//! Progress displays (indicatif), drawn on stderr and hidden when it is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner for work whose size is not known in advance.
pub fn units(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix}: {msg}").expect("valid template"));
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    if bar.is_hidden() {
        eprintln!("{what} ...");
    }
    bar
}
