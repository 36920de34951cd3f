//! Reading manifests for `apply -f` and `delete -f`: files, directories of `.yaml`/`.yml`/
//! `.json` files and standard input, each decoded into its documents (`kind: List` expanded)
//! and checked before anything is sent.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The largest manifest file read, in bytes.
pub const MANIFEST_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Directory levels descended with `-R`.
pub const DIRECTORY_DEPTH_MAX: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// a file or directory could not be read
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// a file is larger than edgectl reads
    #[error("{}: larger than {MANIFEST_BYTES_MAX} bytes", path.display())]
    TooLarge { path: PathBuf },
    /// a directory holds no manifests
    #[error("{}: no .yaml, .yml or .json files", path.display())]
    EmptyDirectory { path: PathBuf },
    /// a document does not decode
    #[error("{source_name}: document {document}{}: {message}", location(*line, *column))]
    Decode {
        source_name: String,
        /// 1-based index of the document in its file.
        document: usize,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    /// a document is not a valid object
    #[error("{source_name}: document {document} ({resource}): {message}")]
    Invalid {
        source_name: String,
        document: usize,
        resource: String,
        message: String,
    },
}

fn location(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(", line {line}, column {column}"),
        (Some(line), None) => format!(", line {line}"),
        _ => String::new(),
    }
}

/// One decoded object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file name, or `-` for standard input.
    pub source_name: String,
    /// 1-based index of the document in its file.
    pub index: usize,
    pub object: Value,
}

/// The text of each source, with its name, in order: files as given, directories' manifests
/// sorted by name (descending into subdirectories with `recursive`), `-` for standard input.
pub fn read_sources(
    paths: &[PathBuf],
    recursive: bool,
) -> Result<Vec<(String, String)>, ManifestError> {
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .take(MANIFEST_BYTES_MAX + 1)
                .read_to_string(&mut text)
                .map_err(|source| ManifestError::Read {
                    path: path.clone(),
                    source,
                })?;
            if text.len() as u64 > MANIFEST_BYTES_MAX {
                return Err(ManifestError::TooLarge { path: path.clone() });
            }
            sources.push(("-".to_string(), text));
        } else if path.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, recursive, 0, &mut files)?;
            if files.is_empty() {
                return Err(ManifestError::EmptyDirectory { path: path.clone() });
            }
            for file in files {
                sources.push((file.display().to_string(), read_file(&file)?));
            }
        } else {
            sources.push((path.display().to_string(), read_file(path)?));
        }
    }
    Ok(sources)
}

fn read_file(path: &Path) -> Result<String, ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MANIFEST_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MANIFEST_BYTES_MAX {
        return Err(ManifestError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

fn collect_dir(
    dir: &Path,
    recursive: bool,
    depth: usize,
    files: &mut Vec<PathBuf>,
) -> Result<(), ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            if recursive && depth < DIRECTORY_DEPTH_MAX {
                collect_dir(&entry, recursive, depth + 1, files)?;
            }
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(entry);
        }
    }
    Ok(())
}

/// Decodes every document of one source, expanding `kind: List`. Empty documents are skipped.
pub fn decode(source_name: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let values = placeholder::decode_documents(source_name, text)?;
    let mut documents = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let index = i + 1;
        if value.is_null() {
            continue;
        }
        if !value.is_object() {
            return Err(ManifestError::Decode {
                source_name: source_name.to_string(),
                document: index,
                line: None,
                column: None,
                message: "expected a mapping (an object with apiVersion and kind)".to_string(),
            });
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            let items = value.get("items").and_then(Value::as_array).cloned();
            for item in items.unwrap_or_default() {
                documents.push(Document {
                    source_name: source_name.to_string(),
                    index,
                    object: item,
                });
            }
        } else {
            documents.push(Document {
                source_name: source_name.to_string(),
                index,
                object: value,
            });
        }
    }
    Ok(documents)
}

/// Reads and decodes every source.
pub fn load(paths: &[PathBuf], recursive: bool) -> Result<Vec<Document>, ManifestError> {
    let mut documents = Vec::new();
    for (name, text) in read_sources(paths, recursive)? {
        documents.extend(decode(&name, &text)?);
    }
    Ok(documents)
}

/// YAML and JSON into JSON values, pending `crate::api`'s manifest decoder.
mod placeholder {
    use super::*;

    pub fn decode_documents(source_name: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let mut values = Vec::new();
            let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            for (i, value) in stream.enumerate() {
                let value = value.map_err(|e| ManifestError::Decode {
                    source_name: source_name.to_string(),
                    document: i + 1,
                    line: Some(e.line() as u64),
                    column: Some(e.column() as u64),
                    message: e.to_string(),
                })?;
                match value {
                    Value::Array(items) => values.extend(items),
                    other => values.push(other),
                }
            }
            return Ok(values);
        }
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| {
            let location = e.location();
            let document = text[..location.map(|l| line_offset(text, l.line())).unwrap_or(0)]
                .lines()
                .filter(|l| l.starts_with("---"))
                .count();
            ManifestError::Decode {
                source_name: source_name.to_string(),
                document: document.max(1),
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()),
                message: e.to_string().lines().next().unwrap_or("").to_string(),
            }
        })
    }

    fn line_offset(text: &str, line: u64) -> usize {
        text.lines()
            .take(line.saturating_sub(1) as usize)
            .map(|l| l.len() + 1)
            .sum::<usize>()
            .min(text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists_are_expanded() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n";
        let docs = decode("x.yaml", text).unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn broken_yaml_names_file_line_and_column() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n";
        let error = decode("bad.yaml", text).unwrap_err().to_string();
        assert!(error.starts_with("bad.yaml: document 1, line "), "{error}");
        assert!(error.contains("column"), "{error}");
    }
}
