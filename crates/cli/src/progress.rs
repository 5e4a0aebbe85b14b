//! A progress bar on stderr (bytes, rate, ETA) while a load reads, when
//! stderr is a terminal and not `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nasdaq_core::Progress;

/// The bar, drawn on stderr.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        self.0.set_draw_target(ProgressDrawTarget::stderr());
        self.0.reset();
        self.0.set_length(total.unwrap_or(0));
        self.0.set_message(what.to_owned());
        // Drawn now and then every 100 ms, however the bytes arrive.
        self.0
            .enable_steady_tick(std::time::Duration::from_millis(100));
        self.0.tick();
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A progress sink when one should be drawn.
pub(crate) fn bar(quiet: bool) -> Option<Arc<dyn Progress>> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let style = ProgressStyle::with_template(
        "{msg:.dim} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bar =
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style);
    Some(Arc::new(Bar(bar)))
}
