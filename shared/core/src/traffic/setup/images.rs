//! Which container gets which image: from `UserParameters` (`image`, `container`) or from an
//! `imagedefinitions.json` input artifact (the file CodePipeline's ECS deploy action reads,
//! zipped as every CodePipeline artifact is).

use serde::Deserialize;
use std::io::Read;

/// One container's new image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUpdate {
    pub container: String,
    pub image: String,
}

/// The file CodePipeline's ECS actions read.
pub const IMAGE_DEFINITIONS: &str = "imagedefinitions.json";
/// An `imagedefinitions.json` is a few lines; anything near this is not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why no image update could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("UserParameters: image is missing and the action has no input artifact with {IMAGE_DEFINITIONS}")]
    NoImage,
    #[error("UserParameters: container is missing and task definition {task_definition} has {count} containers ({names}): name the one to update")]
    WhichContainer {
        task_definition: String,
        count: usize,
        names: String,
    },
    #[error("container {container} is not in task definition {task_definition} (it has: {names})")]
    UnknownContainer {
        container: String,
        task_definition: String,
        names: String,
    },
    #[error("{IMAGE_DEFINITIONS} in artifact {artifact} is not a list of {{\"name\", \"imageUri\"}} ({reason})")]
    BadDefinitions { artifact: String, reason: String },
    #[error("{IMAGE_DEFINITIONS} in artifact {artifact} names no image for container {container}")]
    NotInDefinitions { artifact: String, container: String },
    #[error("artifact {artifact} is not a readable zip file ({reason})")]
    BadZip { artifact: String, reason: String },
    #[error("artifact {artifact} has no {IMAGE_DEFINITIONS}")]
    NoDefinitions { artifact: String },
}

/// The update `UserParameters` ask for. `containers` are the task definition's container names.
pub fn from_params(
    image: &str,
    container: Option<&str>,
    containers: &[String],
    task_definition: &str,
) -> Result<Vec<ImageUpdate>, ImageError> {
    let container = match (container, containers) {
        (Some(c), _) => c.to_string(),
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(ImageError::WhichContainer {
                task_definition: task_definition.to_string(),
                count: containers.len(),
                names: containers.join(", "),
            })
        }
    };
    let updates = vec![ImageUpdate {
        container,
        image: image.to_string(),
    }];
    check_containers(&updates, containers, task_definition)?;
    Ok(updates)
}

/// The updates an `imagedefinitions.json` asks for, limited to `container` when one is named.
/// Entries for containers the task definition lacks are an error, as in CodePipeline's ECS action.
pub fn from_definitions(
    file: &[u8],
    artifact: &str,
    container: Option<&str>,
    containers: &[String],
    task_definition: &str,
) -> Result<Vec<ImageUpdate>, ImageError> {
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        #[serde(rename = "imageUri")]
        image_uri: String,
    }
    let entries: Vec<Entry> =
        serde_json::from_slice(file).map_err(|e| ImageError::BadDefinitions {
            artifact: artifact.to_string(),
            reason: e.to_string(),
        })?;
    let mut updates: Vec<ImageUpdate> = entries
        .into_iter()
        .filter(|e| container.is_none_or(|c| c == e.name))
        .map(|e| ImageUpdate {
            container: e.name,
            image: e.image_uri,
        })
        .collect();
    if updates.is_empty() {
        return Err(match container {
            Some(c) => ImageError::NotInDefinitions {
                artifact: artifact.to_string(),
                container: c.to_string(),
            },
            None => ImageError::BadDefinitions {
                artifact: artifact.to_string(),
                reason: "the list is empty".into(),
            },
        });
    }
    if let Some(bad) = updates.iter().find(|u| u.image.trim().is_empty()) {
        return Err(ImageError::BadDefinitions {
            artifact: artifact.to_string(),
            reason: format!("container {} has an empty imageUri", bad.container),
        });
    }
    updates.dedup_by(|a, b| a.container == b.container);
    check_containers(&updates, containers, task_definition)?;
    Ok(updates)
}

fn check_containers(
    updates: &[ImageUpdate],
    containers: &[String],
    task_definition: &str,
) -> Result<(), ImageError> {
    match updates.iter().find(|u| !containers.contains(&u.container)) {
        None => Ok(()),
        Some(u) => Err(ImageError::UnknownContainer {
            container: u.container.clone(),
            task_definition: task_definition.to_string(),
            names: containers.join(", "),
        }),
    }
}

/// `imagedefinitions.json` from an artifact's bytes: a zip (as CodePipeline stores artifacts)
/// holding the file at any depth, or the JSON itself.
pub fn definitions_file(artifact: &str, bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    if bytes
        .first()
        .is_some_and(|b| *b == b'[' || b.is_ascii_whitespace())
    {
        return Ok(bytes.to_vec());
    }
    zip_file(bytes, IMAGE_DEFINITIONS).map_err(|e| match e {
        ZipError::NotFound => ImageError::NoDefinitions {
            artifact: artifact.to_string(),
        },
        ZipError::Bad(reason) => ImageError::BadZip {
            artifact: artifact.to_string(),
            reason,
        },
    })
}

enum ZipError {
    NotFound,
    Bad(String),
}

fn u16_at(b: &[u8], at: usize) -> Result<usize, ZipError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
        .ok_or_else(|| ZipError::Bad("truncated".into()))
}

fn u32_at(b: &[u8], at: usize) -> Result<usize, ZipError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .ok_or_else(|| ZipError::Bad("truncated".into()))
}

/// The file whose base name is `name`, from a zip archive: the central directory says where it
/// is, its local header where its data starts. Stored and deflated entries (all that CodeBuild
/// and the console write) are read; ZIP64 archives are not (no artifact of this kind needs it).
fn zip_file(zip: &[u8], name: &str) -> Result<Vec<u8>, ZipError> {
    const END: u32 = 0x0605_4b50;
    const CENTRAL: usize = 0x0201_4b50;
    const LOCAL: usize = 0x0403_4b50;
    let search_from = zip.len().saturating_sub(22 + 65_535);
    let end = (search_from..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(zip, i).ok() == Some(END as usize))
        .ok_or_else(|| ZipError::Bad("no end of central directory".into()))?;
    let count = u16_at(zip, end + 10)?;
    let mut at = u32_at(zip, end + 16)?;
    for _ in 0..count {
        if u32_at(zip, at)? != CENTRAL {
            return Err(ZipError::Bad("broken central directory".into()));
        }
        let method = u16_at(zip, at + 10)?;
        let compressed = u32_at(zip, at + 20)?;
        let size = u32_at(zip, at + 24)?;
        let name_len = u16_at(zip, at + 28)?;
        let extra_len = u16_at(zip, at + 30)?;
        let comment_len = u16_at(zip, at + 32)?;
        let local = u32_at(zip, at + 42)?;
        let entry = zip
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| ZipError::Bad("truncated".into()))?;
        at += 46 + name_len + extra_len + comment_len;
        let entry = String::from_utf8_lossy(entry);
        if entry.rsplit('/').next() != Some(name) {
            continue;
        }
        if size as u64 > MAX_FILE_BYTES {
            return Err(ZipError::Bad(format!("{entry} is {size} bytes")));
        }
        if u32_at(zip, local)? != LOCAL {
            return Err(ZipError::Bad("broken local header".into()));
        }
        let start = local + 30 + u16_at(zip, local + 26)? + u16_at(zip, local + 28)?;
        let data = zip
            .get(start..start + compressed)
            .ok_or_else(|| ZipError::Bad("truncated entry".into()))?;
        return match method {
            0 => Ok(data.to_vec()),
            8 => {
                let mut out = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_FILE_BYTES)
                    .read_to_end(&mut out)
                    .map_err(|e| ZipError::Bad(e.to_string()))?;
                Ok(out)
            }
            m => Err(ZipError::Bad(format!(
                "compression method {m} is not supported"
            ))),
        };
    }
    Err(ZipError::NotFound)
}

/// A zip archive of `files` (deflated), as CodeBuild writes artifacts. For tests and the demo.
pub fn zip_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, content) in files {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(content);
        let data = encoder.finish().unwrap_or_default();
        let crc = crc32(content);
        let offset = out.len() as u32;
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes()); // made by
            }
            h.extend(20u16.to_le_bytes()); // needed to extract
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(8u16.to_le_bytes()); // deflate
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((content.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend([0u8; 6]); // comment, disk, internal attributes
                h.extend(0u32.to_le_bytes()); // external attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(&data);
        central.extend(header(0x0201_4b50, true));
    }
    let central_at = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((files.len() as u16).to_le_bytes());
    out.extend((files.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/shop:7";

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_single_container_needs_no_name() {
        let u = from_params("repo/shop:2", None, &names(&["web"]), TD).unwrap();
        assert_eq!(
            u,
            vec![ImageUpdate {
                container: "web".into(),
                image: "repo/shop:2".into()
            }]
        );
    }

    #[test]
    fn several_containers_need_a_name_and_it_must_exist() {
        let err = from_params("i", None, &names(&["web", "envoy"]), TD)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has 2 containers (web, envoy)"), "{err}");
        let err = from_params("i", Some("api"), &names(&["web", "envoy"]), TD)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("container api is not in task definition {TD} (it has: web, envoy)")
        );
    }

    #[test]
    fn image_definitions_update_every_named_container() {
        let file =
            br#"[{"name":"web","imageUri":"repo/web:2"},{"name":"envoy","imageUri":"envoy:1.30"}]"#;
        let u = from_definitions(file, "BuildOutput", None, &names(&["web", "envoy"]), TD).unwrap();
        assert_eq!(u.len(), 2);
        let u = from_definitions(
            file,
            "BuildOutput",
            Some("web"),
            &names(&["web", "envoy"]),
            TD,
        )
        .unwrap();
        assert_eq!(
            u,
            vec![ImageUpdate {
                container: "web".into(),
                image: "repo/web:2".into()
            }]
        );
        let err = from_definitions(file, "BuildOutput", None, &names(&["web"]), TD).unwrap_err();
        assert!(matches!(err, ImageError::UnknownContainer { .. }));
        let err = from_definitions(b"{}", "BuildOutput", None, &names(&["web"]), TD).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("imagedefinitions.json in artifact BuildOutput is not a list"),
            "{err}"
        );
    }

    #[test]
    fn the_file_is_found_in_a_zipped_artifact() {
        let json = br#"[{"name":"web","imageUri":"repo/web:2"}]"#;
        let zip = zip_archive(&[("README.md", b"hello"), ("out/imagedefinitions.json", json)]);
        assert_eq!(
            definitions_file("BuildOutput", &zip).unwrap(),
            json.to_vec()
        );
        let zip = zip_archive(&[("README.md", b"hello")]);
        assert_eq!(
            definitions_file("BuildOutput", &zip)
                .unwrap_err()
                .to_string(),
            "artifact BuildOutput has no imagedefinitions.json"
        );
        assert!(matches!(
            definitions_file("BuildOutput", b"PK\x03\x04 garbage"),
            Err(ImageError::BadZip { .. })
        ));
        assert_eq!(
            definitions_file("A", json).unwrap(),
            json.to_vec(),
            "plain JSON is taken as is"
        );
    }

    #[test]
    fn a_zip_written_by_another_tool_is_read() {
        // Written by Python's zipfile (deflated), as a build tool would.
        let zip = include_bytes!("testdata/BuildOutput.zip");
        let file = definitions_file("BuildOutput", zip).unwrap();
        let u = from_definitions(&file, "BuildOutput", None, &names(&["web"]), TD).unwrap();
        assert_eq!(
            u[0].image,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:3f2a9c1"
        );
    }

    #[test]
    fn our_zip_is_read_by_another_tool() {
        // The demo and the tests upload archives made by `zip_archive`: they must be real zips.
        let zip = zip_archive(&[("imagedefinitions.json", b"[]")]);
        assert_eq!(&zip[..4], b"PK\x03\x04");
        assert_eq!(definitions_file("A", &zip).unwrap(), b"[]".to_vec());
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
