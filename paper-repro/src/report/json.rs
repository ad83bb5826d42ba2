//! An order-preserving JSON tree.
//!
//! `serde_json::Value` sorts object keys unless serde_json's `preserve_order` feature is on, which
//! would put `"claims"` before `"config"` in `summary.json` and sort the columns of the iterations
//! CSV alphabetically. Rows are therefore serialized to text (which keeps a struct's field order)
//! and parsed back into this small tree, whose objects are plain `Vec`s of entries.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose objects keep their keys in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Converts any serializable value, keeping the order of struct fields and map entries.
    /// Non-finite floats become `null` (what serde_json writes for them).
    pub(crate) fn from_serialize<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Json> {
        let text = serde_json::to_string(value)?;
        serde_json::from_str(&text)
    }

    /// A string value.
    pub(crate) fn str(s: impl Into<String>) -> Json {
        Json::String(s.into())
    }

    /// A number, or `null` when `x` is not finite.
    pub(crate) fn f64(x: f64) -> Json {
        serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
    }

    /// An unsigned integer.
    pub(crate) fn u64(x: u64) -> Json {
        Json::Number(x.into())
    }

    /// The keys of an object, in order (empty for other values).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        let entries: &[(String, Json)] = match self {
            Json::Object(entries) => entries,
            _ => &[],
        };
        entries.iter().map(|(k, _)| k.as_str())
    }

    /// The value stored under `key` in an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as one CSV cell: numbers and strings as they are, `null` as an empty cell,
    /// arrays and objects as compact JSON.
    pub(crate) fn csv_cell(&self) -> String {
        match self {
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => n.to_string(),
            Json::String(s) => s.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<Json, E> {
        Ok(Json::Number(x.into()))
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<Json, E> {
        Ok(Json::Number(x.into()))
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Json, E> {
        Ok(Json::f64(x))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries: Vec<(String, Json)> = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            // JSON text may repeat a key; like serde_json, the last one wins.
            if let Some(slot) = entries.iter_mut().find(|(key, _)| *key == k) {
                slot.1 = v;
            } else {
                entries.push((k, v));
            }
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row {
        zeta: u32,
        alpha: f64,
        mid: Option<String>,
    }

    #[test]
    fn keeps_field_order_and_maps_nan_to_null() {
        let j = Json::from_serialize(&Row { zeta: 1, alpha: f64::NAN, mid: None }).unwrap();
        assert_eq!(j.keys().collect::<Vec<_>>(), ["zeta", "alpha", "mid"]);
        assert_eq!(j.get("alpha"), Some(&Json::Null));
        assert_eq!(serde_json::to_string(&j).unwrap(), r#"{"zeta":1,"alpha":null,"mid":null}"#);
        assert_eq!(j.get("zeta").unwrap().csv_cell(), "1");
    }
}
