//! Why a submitted value was refused.

/// Why a submitted value was refused, in the words the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// A short machine-readable kind, in the style of pydantic's error types.
    pub kind: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}
