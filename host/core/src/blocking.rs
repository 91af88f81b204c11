//! Where the host may block: the layers mark each stretch of work that can take long (a store
//! read or write, RSA, key generation, a guest run) as a [`section`], and whoever drives them
//! from an event loop installs a [hook](install) that moves the loop's other work elsewhere for
//! the length of the section.
//!
//! `kms serve` answers a request on the event loop's own thread: an Encrypt whose key is cached
//! is a few microseconds of work, less than handing the thread over would cost. Only what is
//! marked here hands it over (the server's hook is tokio's `block_in_place`). With no hook
//! installed (the CLI, embedders, tests) a section simply runs.
//!
//! ```
//! let sum = kms_core::blocking::section(|| 2 + 2);
//! assert_eq!(sum, 4);
//! ```

use std::sync::OnceLock;

/// A hook runs the work it is given, on this thread, before returning.
pub type Hook = fn(&mut dyn FnMut());

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the process's hook. The first one installed stays: answers whether it was this one.
pub fn install(hook: Hook) -> bool {
    HOOK.set(hook).is_ok()
}

/// Runs `work`, which may block, through the installed hook (if any).
pub fn section<T>(work: impl FnOnce() -> T) -> T {
    let Some(hook) = HOOK.get() else {
        return work();
    };
    let mut work = Some(work);
    let mut out = None;
    hook(&mut || {
        if let Some(work) = work.take() {
            out = Some(work());
        }
    });
    // A hook that did not run the work broke its contract; run it here rather than lose it.
    out.unwrap_or_else(|| {
        work.take()
            .map(|work| work())
            .expect("the work ran or is still here")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ENTERED: AtomicUsize = AtomicUsize::new(0);

    fn counting(work: &mut dyn FnMut()) {
        ENTERED.fetch_add(1, Ordering::SeqCst);
        work();
    }

    #[test]
    fn a_section_runs_through_the_hook_once_and_returns_its_value() {
        // The only test in this crate that installs a hook.
        assert!(install(counting));
        assert!(!install(counting), "a second hook replaced the first");
        let before = ENTERED.load(Ordering::SeqCst);
        let value = section(|| String::from("done"));
        assert_eq!(value, "done");
        assert_eq!(ENTERED.load(Ordering::SeqCst), before + 1);
        // Nested sections are sections too (the server's hook handles nesting).
        assert_eq!(section(|| section(|| 7)), 7);
        assert_eq!(ENTERED.load(Ordering::SeqCst), before + 3);
    }
}
