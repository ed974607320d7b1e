//! Cursor paging: stable under concurrent inserts, unlike offsets.

use serde::{Deserialize, Serialize};

use crate::Error;

/// An opaque position in a listing: "continue after this item".
///
/// It is the text of the last item's id; callers must treat it as opaque so that the encoding
/// can change without breaking them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a position taken from the last item of a page.
    pub fn new(after: impl Into<String>) -> Self {
        Self(after.into())
    }
    /// The position.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
    /// At most this many items, `1..=PageRequest::MAX_LIMIT`.
    pub limit: u32,
}

impl PageRequest {
    /// Page size when the caller names none.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Largest page a caller may ask for.
    pub const MAX_LIMIT: u32 = 1000;

    /// Validates a page request.
    pub fn new(after: Option<Cursor>, limit: Option<u32>) -> crate::Result<Self> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(Error::InvalidEncoding {
                what: "page limit (allowed: 1 to 1000)",
                value: limit.to_string(),
            });
        }
        Ok(Self { after, limit })
    }

    /// The first page with the default size.
    pub fn first() -> Self {
        Self {
            after: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in listing order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit, 100);
        assert!(PageRequest::new(None, Some(0)).is_err());
        assert!(PageRequest::new(None, Some(1001)).is_err());
        assert_eq!(PageRequest::new(None, Some(1000)).unwrap().limit, 1000);
    }
}
