//! Values of the TFS log and their encoding.
//!
//! Every immediate tuple, vector and symbol (a tuple key) takes the next
//! index of a dictionary shared by the whole log, starting at 1; later
//! records refer to them by index. A reference tuple *updates* the tuple it
//! names: an empty buffer deletes a key, a one-byte `"\0"` buffer is the
//! null value (a flag). Index 1 is the filesystem's root tuple.

use std::collections::{BTreeMap, HashMap};

use super::encoding::{
    push_header, push_varint, read_header, read_varint, take, TYPE_BUFFER, TYPE_INTEGER, TYPE_STRING, TYPE_TUPLE,
    TYPE_VECTOR,
};
use super::FormatError;

/// A decoded (or to-be-encoded) value; tuples keep their keys sorted, which
/// is also the order the encoder writes them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Tuple(BTreeMap<String, Value>),
    Vector(Vec<Value>),
    /// A typed string (what ops writes for every scalar).
    String(String),
    /// An untyped buffer (TFS version 4 scalars; symbols used as values).
    Buffer(Vec<u8>),
    Integer(i64),
    Null,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    pub fn tuple<const N: usize>(entries: [(&str, Value); N]) -> Self {
        Value::Tuple(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn as_tuple(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// A scalar as text (strings, buffers, integers): how the kernel reads
    /// numbers such as `filelength`, which ops writes as strings.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Buffer(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.text()?.parse().ok()
    }

    /// The value as JSON, for printing: tuples are objects, scalars strings
    /// (integers numbers), null is null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Tuple(t) => serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Vector(v) => serde_json::Value::Array(v.iter().map(Value::to_json).collect()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Buffer(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
            Value::Integer(i) => serde_json::json!(i),
            Value::Null => serde_json::Value::Null,
        }
    }
}

/// Encodes values the way ops does for a fresh filesystem: one dictionary,
/// symbols interned on first use, every scalar a typed string.
#[derive(Default)]
pub struct Encoder {
    pub out: Vec<u8>,
    symbols: HashMap<String, u64>,
    entries: u64,
}

impl Encoder {
    pub fn encode(&mut self, value: &Value) {
        match value {
            Value::Tuple(t) => {
                push_header(&mut self.out, true, TYPE_TUPLE, t.len() as u64);
                self.entries += 1;
                for (k, v) in t {
                    self.symbol(k);
                    self.encode(v);
                }
            }
            Value::Vector(v) => {
                push_header(&mut self.out, true, TYPE_VECTOR, v.len() as u64);
                self.entries += 1;
                for item in v {
                    self.encode(item);
                }
            }
            Value::String(s) => {
                push_header(&mut self.out, true, TYPE_STRING, s.len() as u64);
                self.out.extend_from_slice(s.as_bytes());
            }
            Value::Buffer(b) => {
                push_header(&mut self.out, true, TYPE_BUFFER, b.len() as u64);
                self.out.extend_from_slice(b);
            }
            Value::Integer(i) => {
                push_header(&mut self.out, true, TYPE_INTEGER, u64::from(*i < 0));
                push_varint(&mut self.out, i.unsigned_abs());
            }
            Value::Null => {
                push_header(&mut self.out, true, TYPE_BUFFER, 1);
                self.out.push(0);
            }
        }
    }

    fn symbol(&mut self, name: &str) {
        if let Some(&index) = self.symbols.get(name) {
            push_header(&mut self.out, false, TYPE_BUFFER, index);
        } else {
            push_header(&mut self.out, true, TYPE_BUFFER, name.len() as u64);
            self.out.extend_from_slice(name.as_bytes());
            self.entries += 1;
            self.symbols.insert(name.to_string(), self.entries);
        }
    }
}

/// Deeper nesting than this is a malformed (or cyclic) log.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone)]
enum Slot {
    Object(usize),
    Scalar(Value),
    /// An empty buffer: deletes the key it is assigned to.
    Delete,
}

#[derive(Debug)]
enum Object {
    Tuple(BTreeMap<String, Slot>),
    Vector(Vec<Slot>),
}

#[derive(Debug, Clone)]
enum Entry {
    Symbol(String),
    Object(usize),
}

/// Decodes a log's tuple records in order, applying updates; `root()`
/// resolves the final tree.
#[derive(Debug, Default)]
pub struct Decoder {
    objects: Vec<Object>,
    dictionary: Vec<Entry>,
}

impl Decoder {
    /// Decodes one record (`buf` holds it whole); `base` locates `buf[0]` for errors.
    pub fn record(&mut self, buf: &[u8], base: u64, old_encoding: bool) -> Result<(), FormatError> {
        let mut pos = 0;
        match self.value(buf, &mut pos, base, old_encoding, 0)? {
            Slot::Object(id) if matches!(self.objects[id], Object::Tuple(_)) => Ok(()),
            _ => Err(FormatError::at(base, "a log record must hold a tuple")),
        }
    }

    fn lookup(&self, index: u64, at: u64) -> Result<&Entry, FormatError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.dictionary.get(i))
            .ok_or_else(|| FormatError::at(at, format!("reference to dictionary entry {index}, which does not exist")))
    }

    fn take<'a>(buf: &'a [u8], pos: &mut usize, len: u64, base: u64, what: &str) -> Result<&'a [u8], FormatError> {
        let start = *pos;
        take(buf, pos, len).ok_or_else(|| {
            FormatError::at(
                base + start as u64,
                format!("{what} of {len} bytes runs past the end of its record ({} bytes left)", buf.len() - start),
            )
        })
    }

    fn value(&mut self, buf: &[u8], pos: &mut usize, base: u64, old: bool, depth: usize) -> Result<Slot, FormatError> {
        let at = base + *pos as u64;
        if depth > MAX_DEPTH {
            return Err(FormatError::at(at, format!("values nested deeper than {MAX_DEPTH}")));
        }
        let h = read_header(buf, pos, base, old)?;
        match h.kind {
            TYPE_TUPLE | TYPE_VECTOR => {
                let is_tuple = h.kind == TYPE_TUPLE;
                let id = if h.immediate {
                    self.objects.push(if is_tuple {
                        Object::Tuple(BTreeMap::new())
                    } else {
                        Object::Vector(Vec::new())
                    });
                    self.dictionary.push(Entry::Object(self.objects.len() - 1));
                    self.objects.len() - 1
                } else {
                    let index = read_varint(buf, pos, base)?;
                    match self.lookup(index, at)? {
                        Entry::Object(id) if matches!(self.objects[*id], Object::Tuple(_)) == is_tuple => *id,
                        _ => {
                            return Err(FormatError::at(
                                at,
                                format!(
                                    "reference to dictionary entry {index}, which is not a {}",
                                    if is_tuple { "tuple" } else { "vector" }
                                ),
                            ))
                        }
                    }
                };
                for i in 0..h.length {
                    let key = if is_tuple { Some(self.symbol(buf, pos, base, old)?) } else { None };
                    let slot = self.value(buf, pos, base, old, depth + 1)?;
                    match (&mut self.objects[id], key) {
                        (Object::Tuple(t), Some(key)) => match slot {
                            Slot::Delete => {
                                t.remove(&key);
                            }
                            slot => {
                                t.insert(key, slot);
                            }
                        },
                        (Object::Vector(v), _) => {
                            let slot = if matches!(slot, Slot::Delete) { Slot::Scalar(Value::Null) } else { slot };
                            match v.get_mut(i as usize) {
                                Some(existing) => *existing = slot,
                                None => v.push(slot),
                            }
                        }
                        _ => unreachable!("tuples have keys"),
                    }
                }
                Ok(Slot::Object(id))
            }
            TYPE_INTEGER => {
                if !h.immediate {
                    return Err(FormatError::at(at, "integers cannot be references"));
                }
                let magnitude = read_varint(buf, pos, base)?;
                let value =
                    if h.length > 0 { 0i64.checked_sub_unsigned(magnitude) } else { i64::try_from(magnitude).ok() };
                value
                    .map(|v| Slot::Scalar(Value::Integer(v)))
                    .ok_or_else(|| FormatError::at(at, "integer out of 64-bit range"))
            }
            TYPE_STRING | TYPE_BUFFER => {
                let typed = h.kind == TYPE_STRING;
                if !typed && h.length == 0 {
                    return Ok(Slot::Delete);
                }
                if !h.immediate {
                    return match self.lookup(h.length, at)? {
                        Entry::Symbol(s) => Ok(Slot::Scalar(if typed {
                            Value::String(s.clone())
                        } else {
                            Value::Buffer(s.clone().into_bytes())
                        })),
                        Entry::Object(_) => {
                            Err(FormatError::at(at, format!("dictionary entry {} is not a string", h.length)))
                        }
                    };
                }
                let bytes = Self::take(buf, pos, h.length, base, "string")?;
                Ok(Slot::Scalar(if typed {
                    Value::String(String::from_utf8_lossy(bytes).into_owned())
                } else if bytes == [0] {
                    Value::Null
                } else {
                    Value::Buffer(bytes.to_vec())
                }))
            }
            other => Err(FormatError::at(at, format!("unknown value type {other}"))),
        }
    }

    fn symbol(&mut self, buf: &[u8], pos: &mut usize, base: u64, old: bool) -> Result<String, FormatError> {
        let at = base + *pos as u64;
        let h = read_header(buf, pos, base, old)?;
        if h.kind != TYPE_BUFFER {
            return Err(FormatError::at(at, format!("a tuple key must be a symbol (type 0), found type {}", h.kind)));
        }
        if h.immediate {
            let bytes = Self::take(buf, pos, h.length, base, "symbol")?;
            let name = String::from_utf8_lossy(bytes).into_owned();
            self.dictionary.push(Entry::Symbol(name.clone()));
            Ok(name)
        } else {
            match self.lookup(h.length, at)? {
                Entry::Symbol(s) => Ok(s.clone()),
                Entry::Object(_) => Err(FormatError::at(at, format!("dictionary entry {} is not a symbol", h.length))),
            }
        }
    }

    /// The tree under dictionary entry 1 (the root tuple), resolved.
    pub fn root(&self, at: u64) -> Result<Value, FormatError> {
        let mut budget = MAX_RESOLVED_NODES;
        match self.dictionary.first() {
            Some(Entry::Object(id)) if matches!(self.objects[*id], Object::Tuple(_)) => {
                self.resolve(*id, at, 0, &mut budget)
            }
            _ => Err(FormatError::at(at, "the log holds no root tuple (dictionary entry 1)")),
        }
    }

    fn resolve(&self, id: usize, at: u64, depth: usize, budget: &mut usize) -> Result<Value, FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::at(at, format!("the tree is nested deeper than {MAX_DEPTH} (or is cyclic)")));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| FormatError::at(at, format!("the tree has more than {MAX_RESOLVED_NODES} nodes")))?;
        let mut slot = |s: &Slot| -> Result<Value, FormatError> {
            match s {
                Slot::Object(child) => self.resolve(*child, at, depth + 1, budget),
                Slot::Scalar(v) => Ok(v.clone()),
                Slot::Delete => Ok(Value::Null),
            }
        };
        Ok(match &self.objects[id] {
            Object::Tuple(t) => {
                Value::Tuple(t.iter().map(|(k, v)| Ok((k.clone(), slot(v)?))).collect::<Result<_, FormatError>>()?)
            }
            Object::Vector(v) => Value::Vector(v.iter().map(slot).collect::<Result<_, _>>()?),
        })
    }
}

/// Shared subtrees are copied when resolved: bound the total.
pub const MAX_RESOLVED_NODES: usize = 1_000_000;
