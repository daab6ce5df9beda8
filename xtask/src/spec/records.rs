//! Every record the xtask writes (an image's, a deployment's, an EVM
//! verifier's, a release's) in one versioned JSON shape:
//! `{"kind": KIND, "version": VERSION, …its fields}`, written atomically
//! (temporary file, then rename) and read back with its kind and version
//! checked, so a record from another tool or another xtask is named, not
//! misread.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

pub trait Record: Serialize + DeserializeOwned {
    /// What the record is, as its `kind` says.
    const KIND: &'static str;
    /// The shape this xtask writes and reads.
    const VERSION: u32;
    /// What the record is called in a sentence, with its article ("a release record").
    const WHAT: &'static str;
    /// What makes the record again, said when one cannot be used.
    const REMAKE: &'static str;

    /// A record written before the envelope, as this version's fields
    /// (`None`: not one of ours).
    fn legacy(_fields: Map<String, Value>) -> Option<Map<String, Value>> {
        None
    }
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    kind: &'static str,
    version: u32,
    #[serde(flatten)]
    record: &'a T,
}

fn envelope<T: Record>(record: &T) -> Envelope<'_, T> {
    Envelope { kind: T::KIND, version: T::VERSION, record }
}

/// The record as its file holds it (pretty JSON, its fields in order).
pub fn pretty<T: Record>(record: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(&envelope(record))?)
}

/// The record as a JSON value, with its kind and version (to embed in output).
pub fn json<T: Record>(record: &T) -> Result<Value> {
    Ok(serde_json::to_value(envelope(record))?)
}

/// Writes `record` to `path` atomically.
pub fn save<T: Record>(path: &Path, record: &T) -> Result<()> {
    atomic_write::write_json_atomic(path, &envelope(record))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a record, its kind and version checked; every failure names the
/// file, what it is not, and what makes it again.
pub fn load<T: Record>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}: {}", path.display(), T::REMAKE))?;
    from_slice(&text).map_err(|why| anyhow::anyhow!("{} {why}", path.display()))
}

/// A record from its bytes (what [`load`] checks, without the file). The
/// error is a sentence without its subject: "is not a … record (…): …".
pub fn from_slice<T: Record>(text: &[u8]) -> Result<T> {
    let not = |why: String| anyhow::anyhow!("is not {} ({why}): {}", T::WHAT, T::REMAKE);
    let value: Value = serde_json::from_slice(text).map_err(|e| not(format!("not JSON: {e}")))?;
    let Value::Object(mut fields) = value else { return Err(not("not a JSON object".into())) };
    let fields = match (fields.remove("kind"), fields.remove("version")) {
        (Some(Value::String(kind)), Some(version)) if kind == T::KIND => {
            if version.as_u64() != Some(u64::from(T::VERSION)) {
                bail!("is a {} v{version} record; this xtask reads v{}: {}", T::KIND, T::VERSION, T::REMAKE);
            }
            fields
        }
        (Some(kind), _) => return Err(not(format!("its kind is {kind}, not {}", T::KIND))),
        (None, Some(_)) => return Err(not("a version but no kind".into())),
        (None, None) => T::legacy(fields).ok_or_else(|| not("no kind or version".into()))?,
    };
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        anyhow::anyhow!(
            "is a {} v{} record with fields this xtask cannot read ({e}): {}",
            T::KIND,
            T::VERSION,
            T::REMAKE
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Note {
        text: String,
    }

    impl Record for Note {
        const KIND: &'static str = "note";
        const WHAT: &'static str = "a note";
        const VERSION: u32 = 2;
        const REMAKE: &'static str = "write the note again";
        fn legacy(mut fields: Map<String, Value>) -> Option<Map<String, Value>> {
            (fields.remove("format")? == 1).then_some(fields)
        }
    }

    #[test]
    fn a_record_round_trips_with_its_kind_and_version_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.json");
        save(&path, &Note { text: "hi".into() }).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"kind\": \"note\",\n  \"version\": 2,\n  \"text\": \"hi\""), "{text}");
        assert_eq!(load::<Note>(&path).unwrap(), Note { text: "hi".into() });
        assert_eq!(pretty(&Note { text: "hi".into() }).unwrap(), text.trim_end());
    }

    #[test]
    fn another_kind_version_or_shape_is_named() {
        let error = |text: &str| format!("{:#}", from_slice::<Note>(text.as_bytes()).unwrap_err());
        let v1 = error(r#"{"kind": "note", "version": 1, "text": "x"}"#);
        assert!(v1.contains("is a note v1 record; this xtask reads v2: write the note again"), "{v1}");
        let other = error(r#"{"kind": "image", "version": 2}"#);
        assert!(other.contains("is not a note (its kind is \"image\", not note): write the note again"), "{other}");
        assert!(error(r#"{"version": 2, "text": "x"}"#).contains("is not a note (a version but no kind)"));
        assert!(error(r#"{"text": "x"}"#).contains("is not a note (no kind or version)"));
        assert!(error(r#"{"kind": "note", "version": 2, "text": "x", "more": 1}"#).contains("cannot read"));
        assert!(error("[1]").contains("is not a note (not a JSON object)"));
        assert!(error("{").contains("is not a note (not JSON"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.json");
        std::fs::write(&path, "SUMS").unwrap();
        let shown = format!("{:#}", load::<Note>(&path).unwrap_err());
        assert!(shown.starts_with(&format!("{} is not a note (not JSON", path.display())), "{shown}");
        // A record from before the envelope, recognised by its own marker.
        assert_eq!(from_slice::<Note>(br#"{"format": 1, "text": "old"}"#).unwrap(), Note { text: "old".into() });
        let missing = format!("{:#}", load::<Note>(Path::new("/nonexistent/n.json")).unwrap_err());
        assert!(missing.contains("cannot read /nonexistent/n.json: write the note again"), "{missing}");
    }
}
