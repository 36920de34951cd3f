//! Reading manifests for `apply -f` and `delete -f`: files, directories of `.yaml`/`.yml`/
//! `.json` files and standard input, each decoded into its documents (`kind: List` expanded)
//! and checked before anything is sent.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::{self, DecodeError, DecodeOptions, Kind};

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
    /// documents do not decode or are invalid
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// a document is not what the command needs
    #[error("{source_name}: document {document} ({resource}): {message}")]
    Invalid {
        source_name: String,
        document: usize,
        resource: String,
        message: String,
    },
}

/// One decoded object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file name, or `-` for standard input.
    pub source_name: String,
    /// Position of the document in its file, from 0 (as the resource model counts).
    pub index: usize,
    pub kind: Kind,
    /// The object in its typed form (fields Flotilla does not support are gone).
    pub object: Value,
    /// The unsupported fields that were dropped, one message each, naming file and line.
    pub warnings: Vec<String>,
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

/// Decodes, types and (with `options.validate`) validates every document of one source,
/// expanding `kind: List`. Nothing is returned unless every document is good.
pub fn decode(
    source_name: &str,
    text: &str,
    options: DecodeOptions,
) -> Result<Vec<Document>, ManifestError> {
    let documents = api::decode_manifests_with(source_name, text, options)?;
    Ok(documents
        .into_iter()
        .map(|document| Document {
            source_name: source_name.to_string(),
            index: document.index,
            kind: document.resource.kind(),
            warnings: document.warning_messages(source_name),
            object: document.resource.to_value(),
        })
        .collect())
}

/// Reads and decodes every source; all problems of a source are reported together.
pub fn load(
    paths: &[PathBuf],
    recursive: bool,
    options: DecodeOptions,
) -> Result<Vec<Document>, ManifestError> {
    let mut documents = Vec::new();
    for (name, text) in read_sources(paths, recursive)? {
        documents.extend(decode(&name, &text, options)?);
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists_are_expanded() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n";
        let docs = decode("x.yaml", text, DecodeOptions::default()).unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(docs.iter().all(|d| d.kind == Kind::ConfigMap));
    }

    #[test]
    fn broken_yaml_names_file_line_and_column() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n";
        let error = decode("bad.yaml", text, DecodeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("bad.yaml:"), "{error}");
    }

    #[test]
    fn unknown_fields_are_warnings_naming_the_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nflavour: x\n";
        let docs = decode("cm.yaml", text, DecodeOptions::default()).unwrap();
        assert_eq!(docs[0].warnings.len(), 1);
        assert!(
            docs[0].warnings[0].starts_with("cm.yaml:5:"),
            "{:?}",
            docs[0].warnings
        );
        let strict = DecodeOptions {
            strict: true,
            validate: true,
        };
        assert!(decode("cm.yaml", text, strict).is_err());
    }
}
