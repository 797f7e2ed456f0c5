//! Reading and writing the trainer's JSON files (sidecars, histories, reports) with errors
//! that name the file.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, TrainError};

/// Writes `value` as pretty JSON to `path`, creating its folder first.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::Io {
            path: dir.to_owned(),
            source: e,
        })?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Json {
        path: path.to_owned(),
        source: e,
    })?;
    std::fs::write(path, text).map_err(|e| TrainError::Io {
        path: path.to_owned(),
        source: e,
    })
}

/// Reads a JSON file into `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| TrainError::Json {
        path: path.to_owned(),
        source: e,
    })
}
