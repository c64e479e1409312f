//! Located errors: `FILE:LINE:COL: message`, alone or as a list.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub column: usize,
}

impl Location {
    /// The first character of a file.
    pub const START: Location = Location { line: 1, column: 1 };

    /// A location from a 1-based line and column.
    pub fn new(line: usize, column: usize) -> Self {
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem in an input file, displayed as `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {}", file.display(), line, column, message)]
pub struct LocatedError {
    /// The file the problem is in, as the user named it.
    pub file: PathBuf,
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1.
    pub column: usize,
    /// What is wrong; names the field (`peers[1].asNumber: …`).
    pub message: String,
}

impl LocatedError {
    /// An error at `at` in `file`.
    pub fn new(file: &Path, at: Location, message: impl Into<String>) -> Self {
        LocatedError {
            file: file.to_path_buf(),
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    /// The line and column of the error.
    pub fn location(&self) -> Location {
        Location::new(self.line, self.column)
    }
}

/// Several located errors, displayed one per line in the order they were found
/// (or sorted, after [`LocatedErrors::sort`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocatedErrors(Vec<LocatedError>);

impl LocatedErrors {
    /// An empty list.
    pub fn new() -> Self {
        LocatedErrors(Vec::new())
    }

    /// Adds one error.
    pub fn push(&mut self, error: LocatedError) {
        self.0.push(error);
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many errors were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, LocatedError> {
        self.0.iter()
    }

    /// Sorts by file, line and column (stable: equal locations keep their order),
    /// and drops exact duplicates.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.0.dedup();
    }

    /// `Ok(value)` when no error was recorded, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, LocatedErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The errors as a vector.
    pub fn into_vec(self) -> Vec<LocatedError> {
        self.0
    }
}

impl fmt::Display for LocatedErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LocatedErrors {}

impl From<LocatedError> for LocatedErrors {
    fn from(e: LocatedError) -> Self {
        LocatedErrors(vec![e])
    }
}

impl From<Vec<LocatedError>> for LocatedErrors {
    fn from(v: Vec<LocatedError>) -> Self {
        LocatedErrors(v)
    }
}

impl Extend<LocatedError> for LocatedErrors {
    fn extend<I: IntoIterator<Item = LocatedError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for LocatedErrors {
    type Item = LocatedError;
    type IntoIter = std::vec::IntoIter<LocatedError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a LocatedErrors {
    type Item = &'a LocatedError;
    type IntoIter = std::slice::Iter<'a, LocatedError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
