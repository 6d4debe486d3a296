//! Walks a message's wire fields against its schema and builds the JSON object Go's
//! encoding/json would write for the decoded Go value.
//!
//! Rules, following Go's generated Unmarshal then encoding/json:
//! - unknown field numbers are skipped (as upstream's generated code does);
//! - a field present on the wire is emitted, except the zero value of a non-pointer
//!   `omitempty` scalar ([`Presence::OmitZero`]);
//! - a field absent from the wire is Go's zero value: omitted if encoding/json omits it,
//!   else written as the zero (`""`, `0`, `false`, `{…}`, `null` for nil lists, maps and
//!   zero Times), see [`Presence`]; an empty list on the wire is indistinguishable from nil
//!   and is treated as nil, as upstream's decoder does;
//! - a repeated singular field follows protobuf semantics: scalars last-wins, messages merge,
//!   lists append;
//! - every value charges an output budget so a small body cannot expand into a huge tree.

use miniserde::json::{Array, Object, Value};

use super::MAX_DEPTH;
use super::error::ProtobufError;
use super::scalar;
use super::schema::{self, Elem, Field, Kind, Message, Presence};
use super::wellknown;
use super::wire::{Reader, WireValue};

/// Cost charged per emitted value, on top of names and payloads: roughly the heap one
/// value takes in a miniserde tree (node, key and map-entry overhead), measured with
/// worst-case bodies of tiny fields.
const VALUE_COST: usize = 64;

/// Decodes messages into JSON within an output budget.
#[derive(Debug)]
pub(super) struct Transcoder {
    budget: usize,
}

impl Transcoder {
    pub(super) fn new(budget: usize) -> Self {
        Self { budget }
    }

    /// Adds the fields of `body`, a `message`, to `out`; `depth` counts enclosing messages.
    pub(super) fn message_into(
        &mut self,
        message: &'static Message,
        body: &[u8],
        out: &mut Object,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        if depth > MAX_DEPTH {
            return Err(ProtobufError::TooDeep);
        }
        let mut reader = Reader::new(body);
        while let Some((number, value)) = reader.next_field()? {
            if let Some(field) = message.field(number) {
                self.field_into(field, value, out, depth)?;
            }
        }
        self.fill_absent(message, out)
    }

    /// Writes what encoding/json writes for the fields the wire did not carry.
    fn fill_absent(
        &mut self,
        message: &'static Message,
        out: &mut Object,
    ) -> Result<(), ProtobufError> {
        for field in message.fields() {
            let name = field.json();
            match (field.presence, field.kind) {
                (Presence::ZeroIfAbsent, Kind::Inline(inner)) => {
                    self.fill_absent(schema::message(inner), out)?;
                }
                (Presence::ZeroIfAbsent, Kind::Single(elem)) if !out.contains_key(name) => {
                    let zero = self.zero_json(elem)?;
                    out.insert(name.to_owned(), zero);
                }
                (Presence::NullIfAbsent, _) if !out.contains_key(name) => {
                    self.charge(name.len() + VALUE_COST)?;
                    out.insert(name.to_owned(), Value::Null);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The JSON of a Go zero value. Recursion follows non-pointer struct nesting, which Go
    /// bounds (a struct cannot contain itself by value).
    fn zero_json(&mut self, elem: Elem) -> Result<Value, ProtobufError> {
        self.charge(VALUE_COST)?;
        Ok(match elem {
            Elem::Str => Value::String(String::new()),
            Elem::I32 | Elem::I64 | Elem::F64 | Elem::IntOrString => scalar::integer(0),
            Elem::Bool => Value::Bool(false),
            Elem::Quantity => Value::String("0".to_owned()),
            Elem::Message(id) => {
                let mut object = Object::new();
                self.fill_absent(schema::message(id), &mut object)?;
                Value::Object(object)
            }
            Elem::Bytes | Elem::Time | Elem::MicroTime | Elem::RawJson | Elem::StringList => {
                Value::Null
            }
        })
    }

    fn field_into(
        &mut self,
        field: &'static Field,
        value: WireValue<'_>,
        out: &mut Object,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        let name = field.json();
        self.charge(name.len() + VALUE_COST)?;
        match field.kind {
            Kind::Inline(id) => {
                let message = schema::message(id);
                let body = scalar::bytes(message.name(), value)?;
                self.message_into(message, body, out, depth + 1)
            }
            Kind::Single(Elem::Message(id)) => {
                let body = scalar::bytes(name, value)?;
                let mut object = take_object(out, name);
                let result = self.message_into(schema::message(id), body, &mut object, depth + 1);
                out.insert(name.to_owned(), Value::Object(object));
                result
            }
            Kind::Single(elem) => {
                let json = self.single(name, elem, value, depth)?;
                if field.presence == Presence::OmitZero && is_zero(&json) {
                    out.remove(name);
                } else {
                    out.insert(name.to_owned(), json);
                }
                Ok(())
            }
            Kind::Repeated(elem) => {
                let mut array = take_array(out, name);
                let result = self.repeated_into(name, elem, value, &mut array, depth);
                out.insert(name.to_owned(), Value::Array(array));
                result
            }
            Kind::Map(elem) => {
                let body = scalar::bytes(name, value)?;
                let mut object = take_object(out, name);
                let result = self.map_entry_into(name, elem, body, &mut object, depth);
                out.insert(name.to_owned(), Value::Object(object));
                result
            }
        }
    }

    /// One element of a repeated field; numeric elements may also arrive packed.
    fn repeated_into(
        &mut self,
        name: &'static str,
        elem: Elem,
        value: WireValue<'_>,
        array: &mut Array,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        match (elem, value) {
            (Elem::I32 | Elem::I64 | Elem::Bool, WireValue::Bytes(packed)) => {
                let mut reader = Reader::new(packed);
                while !reader.is_empty() {
                    self.charge(VALUE_COST)?;
                    let item = WireValue::Varint(reader.varint()?);
                    array.push(self.single(name, elem, item, depth)?);
                }
            }
            (Elem::F64, WireValue::Bytes(packed)) => {
                if packed.len() % 8 != 0 {
                    return Err(ProtobufError::Truncated);
                }
                for chunk in packed.chunks_exact(8) {
                    self.charge(VALUE_COST)?;
                    let bits =
                        u64::from_le_bytes(chunk.try_into().map_err(|_| ProtobufError::Truncated)?);
                    array.push(self.single(name, elem, WireValue::Fixed64(bits), depth)?);
                }
            }
            _ => array.push(self.single(name, elem, value, depth)?),
        }
        Ok(())
    }

    /// One `map<string, V>` entry message `{1: key, 2: value}`; a missing value is V's zero.
    fn map_entry_into(
        &mut self,
        name: &'static str,
        elem: Elem,
        body: &[u8],
        object: &mut Object,
        depth: usize,
    ) -> Result<(), ProtobufError> {
        let mut reader = Reader::new(body);
        let (mut key, mut entry) = (String::new(), None);
        while let Some((number, value)) = reader.next_field()? {
            match number {
                1 => key = scalar::string(name, value)?,
                2 => entry = Some(self.single(name, elem, value, depth + 1)?),
                _ => {}
            }
        }
        let entry = match entry {
            Some(entry) => entry,
            None => self.zero_json(elem)?,
        };
        self.charge(key.len())?;
        object.insert(key, entry);
        Ok(())
    }

    /// A single value: a scalar, a well-known type or a whole nested message.
    fn single(
        &mut self,
        name: &'static str,
        elem: Elem,
        value: WireValue<'_>,
        depth: usize,
    ) -> Result<Value, ProtobufError> {
        if let WireValue::Bytes(payload) = value {
            self.charge(payload.len() + payload.len() / 3)?;
        }
        Ok(match elem {
            Elem::Str => Value::String(scalar::string(name, value)?),
            Elem::I32 => scalar::integer(i64::from(scalar::int32(name, value)?)),
            Elem::I64 => scalar::integer(scalar::int64(name, value)?),
            Elem::Bool => Value::Bool(scalar::varint(name, value)? != 0),
            Elem::F64 => scalar::double(name, value)?,
            Elem::Bytes => Value::String(scalar::base64(scalar::bytes(name, value)?)),
            Elem::Message(id) => {
                let mut object = Object::new();
                let body = scalar::bytes(name, value)?;
                self.message_into(schema::message(id), body, &mut object, depth + 1)?;
                Value::Object(object)
            }
            Elem::Time => wellknown::time(scalar::bytes(name, value)?)?,
            Elem::MicroTime => wellknown::micro_time(scalar::bytes(name, value)?)?,
            Elem::Quantity => wellknown::quantity(scalar::bytes(name, value)?)?,
            Elem::IntOrString => wellknown::int_or_string(scalar::bytes(name, value)?)?,
            Elem::RawJson => wellknown::raw_json(scalar::bytes(name, value)?)?,
            Elem::StringList => wellknown::string_list(scalar::bytes(name, value)?)?,
        })
    }

    fn charge(&mut self, cost: usize) -> Result<(), ProtobufError> {
        self.budget = self
            .budget
            .checked_sub(cost)
            .ok_or(ProtobufError::OutputTooLarge)?;
        Ok(())
    }
}

/// The existing object under `name` (a repeated singular message merges into it) or a new one.
fn take_object(out: &mut Object, name: &str) -> Object {
    match out.remove(name) {
        Some(Value::Object(object)) => object,
        _ => Object::new(),
    }
}

fn take_array(out: &mut Object, name: &str) -> Array {
    match out.remove(name) {
        Some(Value::Array(array)) => array,
        _ => Array::new(),
    }
}

/// Go's omitempty notion of empty, for the scalars [`Presence::OmitZero`] applies to.
fn is_zero(value: &Value) -> bool {
    use miniserde::json::Number;
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(Number::U64(n)) => *n == 0,
        Value::Number(Number::I64(n)) => *n == 0,
        Value::Number(Number::F64(n)) => *n == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}
