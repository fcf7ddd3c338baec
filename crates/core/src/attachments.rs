//! Images a client attaches to a prompt (`options.images`, data URLs): decoded and bounded
//! before anything is accepted, written to a folder of the run's own when it starts, and
//! removed when it ends.
//!
//! Names come from the server (`image-1.png`, …), never from the client, so a client-chosen
//! name cannot reach outside the folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value};
use switchboard_protocol::ProtocolError;

/// One decoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub extension: &'static str,
    pub bytes: Vec<u8>,
}

/// The images of one command, shared (not copied) while it waits in a queue.
pub type Attachments = Arc<Vec<Attachment>>;

/// Decodes `options.images` (`[{data: "data:image/png;base64,…", name?}]`), refusing more than
/// `max_count` images, an image over `max_bytes` decoded, or anything that is not a base64
/// image data URL.
pub fn decode_images(
    options: &Map<String, Value>,
    max_count: usize,
    max_bytes: usize,
) -> Result<Vec<Attachment>, ProtocolError> {
    let Some(images) = options.get("images") else {
        return Ok(Vec::new());
    };
    let images = match images {
        Value::Null => return Ok(Vec::new()),
        Value::Array(images) => images,
        _ => {
            return Err(ProtocolError::invalid_field(
                "options.images must be an array",
            ))
        }
    };
    if images.len() > max_count {
        return Err(ProtocolError::invalid_field(format!(
            "options.images has {} images; the limit is {max_count}",
            images.len()
        )));
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let data = image.get("data").and_then(Value::as_str).ok_or_else(|| {
                ProtocolError::invalid_field(format!("options.images[{i}].data must be a data URL"))
            })?;
            decode_data_url(data, max_bytes)
                .map_err(|why| ProtocolError::invalid_field(format!("options.images[{i}]: {why}")))
        })
        .collect()
}

fn decode_data_url(url: &str, max_bytes: usize) -> Result<Attachment, String> {
    let rest = url.strip_prefix("data:").ok_or("not a data URL")?;
    let (meta, payload) = rest.split_once(',').ok_or("a data URL needs a comma")?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or("only base64 data URLs are accepted")?;
    let extension = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(format!(
                "{other:?} is not an accepted image type (png, jpeg, gif, webp)"
            ))
        }
    };
    // base64 grows data by 4/3: refuse before decoding what could not fit anyway.
    if payload.len() / 4 * 3 > max_bytes + 3 {
        return Err(format!("the image is larger than {max_bytes} bytes"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .map_err(|e| format!("invalid base64: {e}"))?;
    if bytes.len() > max_bytes {
        return Err(format!("the image is larger than {max_bytes} bytes"));
    }
    Ok(Attachment { extension, bytes })
}

/// Writes a run's images into `<root>/<run id>/` and returns their paths.
pub fn write_run_folder(
    root: &Path,
    run_id: &str,
    images: &[Attachment],
) -> std::io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(run_id);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let path = dir.join(format!("image-{}.{}", i + 1, image.extension));
            std::fs::write(&path, &image.bytes)?;
            Ok(path)
        })
        .collect()
}

/// Removes a run's folder (and what the agent may have left in it).
pub fn remove_run_folder(root: &Path, run_id: &str) {
    let dir = root.join(run_id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a run's attachments");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(images: Value) -> Map<String, Value> {
        json!({ "images": images }).as_object().unwrap().clone()
    }

    const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";

    #[test]
    fn decodes_and_writes_and_removes() {
        let images = decode_images(&options(json!([{"data": format!("data:image/png;base64,{PNG_1X1}"), "name": "../../x.png"}])), 8, 1 << 20).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].extension, "png");
        assert!(images[0].bytes.starts_with(b"\x89PNG"));
        let root = tempfile::tempdir().unwrap();
        let paths = write_run_folder(root.path(), "run-1", &images).unwrap();
        assert_eq!(paths, vec![root.path().join("run-1/image-1.png")]);
        assert!(paths[0].exists());
        remove_run_folder(root.path(), "run-1");
        assert!(!root.path().join("run-1").exists());
    }

    #[test]
    fn refuses_bad_or_oversized_images() {
        let png = format!("data:image/png;base64,{PNG_1X1}");
        let code = |v: Value, max_count, max_bytes| {
            decode_images(&options(v), max_count, max_bytes)
                .unwrap_err()
                .message
        };
        assert!(code(json!([{"data": png}, {"data": png}]), 1, 1 << 20).contains("limit is 1"));
        assert!(code(json!([{"data": png}]), 8, 10).contains("larger than 10 bytes"));
        assert!(
            code(json!([{"data": "data:text/html;base64,PGI+"}]), 8, 1 << 20)
                .contains("not an accepted image type")
        );
        assert!(code(json!([{"data": "data:image/png,rawbytes"}]), 8, 1 << 20).contains("base64"));
        assert!(
            code(json!([{"data": "data:image/png;base64,@@@"}]), 8, 1 << 20)
                .contains("invalid base64")
        );
        assert!(code(json!([{"name": "x"}]), 8, 1 << 20).contains("data URL"));
        assert!(code(json!("nope"), 8, 1 << 20).contains("must be an array"));
        assert!(decode_images(&Map::new(), 8, 10).unwrap().is_empty());
    }
}
