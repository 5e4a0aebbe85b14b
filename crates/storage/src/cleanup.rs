//! Cleanups that must outlive the work that needed them: when a future is
//! dropped (Ctrl-C, a timeout) in the middle of a multipart upload, the
//! upload is aborted by a task tracked here, and a front end waits for
//! them ([`finish`]) before the process exits.

use std::sync::LazyLock;
use std::time::Duration;

use tokio_util::task::TaskTracker;

static CLEANUPS: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);

/// Runs `cleanup` on the current runtime, tracked; without a runtime (a
/// drop outside one) it cannot run and is skipped.
pub fn spawn(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        CLEANUPS.spawn_on(cleanup, &runtime);
    }
}

/// Waits up to `timeout` for the cleanups started so far; returns whether
/// they all finished.
pub async fn finish(timeout: Duration) -> bool {
    CLEANUPS.close();
    let done = tokio::time::timeout(timeout, CLEANUPS.wait()).await.is_ok();
    CLEANUPS.reopen();
    done
}
