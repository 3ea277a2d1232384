//! The per-sender replay window (in the style of WireGuard and RFC 6479).
//!
//! Each sender numbers its frames with (epoch, counter). A receiver keeps, per sender, the
//! newest epoch, the highest counter seen in it, and a bitmap of the [`REPLAY_WINDOW`]
//! counters below it. The check is split in two: [`ReplayWindow::check`] runs before the
//! signature is verified and changes nothing, [`ReplayWindow::mark`] runs after, so forged
//! frames can never move the window.

use super::error::{Reject, WireError};
use super::limits::REPLAY_WINDOW;

/// Replay state for one sender. Small and `Copy` so it can be persisted or kept per peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    state: Option<Seen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    epoch: u32,
    top: u64,
    /// Bit i set = counter `top - i` was seen.
    bits: u128,
}

const _: () = assert!(REPLAY_WINDOW == 128, "the bitmap is a u128");

impl ReplayWindow {
    /// A window that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A window that refuses every epoch older than `epoch` (restored from storage after a
    /// restart, so that frames captured before it cannot be replayed).
    pub fn starting_at_epoch(epoch: u32) -> Self {
        ReplayWindow {
            state: Some(Seen {
                epoch,
                top: 0,
                bits: 0,
            }),
        }
    }

    /// The newest epoch seen, if any.
    pub fn epoch(&self) -> Option<u32> {
        self.state.map(|s| s.epoch)
    }

    /// Would a frame with this (epoch, counter) be fresh? Changes nothing.
    pub fn check(&self, epoch: u32, counter: u64) -> Result<(), WireError> {
        let Some(s) = self.state else { return Ok(()) };
        if epoch < s.epoch {
            return Err(Reject::StaleEpoch {
                got: epoch,
                current: s.epoch,
            }
            .into());
        }
        if epoch > s.epoch || counter > s.top {
            return Ok(());
        }
        let behind = s.top - counter;
        if behind >= REPLAY_WINDOW || s.bits & (1u128 << behind) != 0 {
            return Err(Reject::Replayed { epoch, counter }.into());
        }
        Ok(())
    }

    /// Records a frame that passed [`ReplayWindow::check`] and its signature check.
    pub fn mark(&mut self, epoch: u32, counter: u64) {
        match &mut self.state {
            Some(s) if epoch == s.epoch => {
                if counter > s.top {
                    let shift = counter - s.top;
                    s.bits = if shift >= REPLAY_WINDOW {
                        0
                    } else {
                        s.bits << shift
                    };
                    s.bits |= 1;
                    s.top = counter;
                } else {
                    let behind = s.top - counter;
                    if behind < REPLAY_WINDOW {
                        s.bits |= 1u128 << behind;
                    }
                }
            }
            Some(s) if epoch < s.epoch => {}
            _ => {
                self.state = Some(Seen {
                    epoch,
                    top: counter,
                    bits: 1,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, e: u32, c: u64) -> bool {
        if w.check(e, c).is_ok() {
            w.mark(e, c);
            true
        } else {
            false
        }
    }

    #[test]
    fn window_rules() {
        let mut w = ReplayWindow::new();
        assert!(accept(&mut w, 1, 5));
        assert!(!accept(&mut w, 1, 5), "duplicate");
        assert!(accept(&mut w, 1, 3), "out of order inside the window");
        assert!(!accept(&mut w, 1, 3));
        assert!(accept(&mut w, 1, 200));
        assert!(!accept(&mut w, 1, 72), "exactly one window behind");
        assert!(accept(&mut w, 1, 73), "last slot of the window");
        assert!(!accept(&mut w, 0, 1000), "stale epoch");
        assert!(accept(&mut w, 2, 0), "new epoch resets");
        assert!(!accept(&mut w, 1, 201));
        assert!(accept(&mut w, 2, 1));
    }

    #[test]
    fn restored_epoch_refuses_older() {
        let mut w = ReplayWindow::starting_at_epoch(7);
        assert!(!accept(&mut w, 6, 0));
        assert!(accept(&mut w, 7, 0));
        assert!(accept(&mut w, 8, 0));
    }

    #[test]
    fn check_does_not_mark() {
        let w = ReplayWindow::new();
        assert!(w.check(1, 1).is_ok());
        assert!(w.check(1, 1).is_ok());
        assert_eq!(w, ReplayWindow::new());
    }
}
