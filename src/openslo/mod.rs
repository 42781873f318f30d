//! OpenSLO v1: slostream's SLIs and SLOs as OpenSLO documents, and back.
//!
//! Teams that keep SLO definitions in OpenSLO (or move them between vendors) must be able to
//! hand them to slostream and get them back without loss: `export` writes a config's SLIs and
//! SLOs as `Service`, `SLI` and `SLO` documents, `import` validates such documents by the rules
//! of OpenSLO's reference SDK and writes the slostream config they describe. What OpenSLO cannot
//! say (combine methods, alert rules, breakdowns, the sparse-slice guard) travels in
//! `slostream.io/` annotations, so an export imports to the same definitions, with the same
//! fingerprints, calendar periods and budgeting methods.
//!
//! - `docs`: the vocabulary both directions share (annotation keys, names, durations, targets,
//!   budgeting methods, calendar windows).
//! - `export` ([`export()`]): a validated config → a YAML stream of documents.
//! - `validate`: a document → checked by OpenSLO's rules, or an error naming its field.
//! - `import` ([`import()`]): checked documents → slostream's `slis` and `slos`, merged into a base config.

pub(crate) mod docs;
mod export;
mod import;
mod validate;

use std::fmt;

pub use export::export;
pub use import::{import, Source};

/// Why a config could not be exported or documents could not be imported: the file, the
/// document (`SLO search-a-ride`, or `document 3` before its name is known), the field path
/// inside it and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSloError {
    /// The file, as given on the command line.
    pub file: String,
    /// `KIND NAME` of the document, `document N` (1-based) without a name; empty for the file.
    pub document: String,
    /// Dotted path inside the document (`spec.timeWindow[0].calendar`); empty for all of it.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for OpenSloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        for part in [&self.document, &self.path] {
            if !part.is_empty() {
                write!(f, ": {part}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for OpenSloError {}

impl From<crate::config::ConfigError> for OpenSloError {
    fn from(e: crate::config::ConfigError) -> Self {
        OpenSloError { file: e.file, document: String::new(), path: e.path, message: e.message }
    }
}

#[cfg(test)]
mod tests;
