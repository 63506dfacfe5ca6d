//! The engine's error type, for inputs whose shape or range a caller can get wrong at run time
//! (evaluation sets, candidate catalogues). Buffers the engine sizes itself are still checked
//! with assertions: a mismatch there is a bug, not bad input.

/// Errors from the engine's checked entry points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A buffer holds the wrong number of values.
    #[error("{what}: expected {expected} values, got {got}")]
    Shape {
        /// Which input.
        what: &'static str,
        /// How many values its shape needs.
        expected: usize,
        /// How many it holds.
        got: usize,
    },
    /// A setting is outside its allowed range.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// What is wrong, with the value received.
        reason: String,
    },
}

/// `Result` with the engine's [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
