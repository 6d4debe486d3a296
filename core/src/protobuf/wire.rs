//! The protobuf wire format reader: keys, varints, fixed-size values and length-delimited
//! fields over a borrowed byte slice.
//!
//! It knows nothing of schemas. Every length is checked against the bytes that remain
//! before it is used, so a hostile length can neither allocate nor read out of bounds; it
//! returns borrowed sub-slices and never allocates. Groups (wire types 3 and 4) are refused:
//! Kubernetes never emits them and they would need their own nesting bound.

use super::error::ProtobufError;

/// One field's value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type number, for error messages.
    pub(super) fn wire_type(&self) -> u8 {
        match self {
            Self::Varint(_) => 0,
            Self::Fixed64(_) => 1,
            Self::Bytes(_) => 2,
            Self::Fixed32(_) => 5,
        }
    }
}

/// Largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Reads the fields of one message, front to back.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }

    /// The next field, or `None` at the clean end of the message.
    pub(super) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, ProtobufError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(ProtobufError::BadFieldNumber);
        }
        let number = u32::try_from(number).map_err(|_| ProtobufError::BadFieldNumber)?;
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => WireValue::Fixed64(u64::from_le_bytes(self.take_array()?)),
            2 => {
                let len = self.varint()?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(self.take_array()?)),
            other => {
                let wire_type = u8::try_from(other).unwrap_or(u8::MAX);
                return Err(ProtobufError::UnsupportedWireType { wire_type });
            }
        };
        Ok(Some((number, value)))
    }

    /// A base-128 varint of at most 10 bytes whose value fits 64 bits.
    pub(super) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(ProtobufError::BadVarint);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        if self.rest.len() >= 10 {
            Err(ProtobufError::BadVarint)
        } else {
            Err(ProtobufError::Truncated)
        }
    }

    /// Whether every byte has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], ProtobufError> {
        let len = usize::try_from(len).map_err(|_| ProtobufError::Truncated)?;
        if len > self.rest.len() {
            return Err(ProtobufError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ProtobufError> {
        let bytes = self.take(N as u64)?;
        bytes.try_into().map_err(|_| ProtobufError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, ProtobufError> {
        let mut reader = Reader::new(buf);
        let mut out = Vec::new();
        while let Some(field) = reader.next_field()? {
            out.push(field);
        }
        Ok(out)
    }

    #[test]
    fn reads_each_wire_type() {
        let buf = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x11, 1, 0, 0, 0, 0, 0, 0, 0, // 2: fixed64 1
            0x1a, 0x02, b'h', b'i', // 3: bytes "hi"
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        let got = fields(&buf).unwrap();
        assert_eq!(
            got,
            vec![
                (1, WireValue::Varint(150)),
                (2, WireValue::Fixed64(1)),
                (3, WireValue::Bytes(b"hi")),
                (4, WireValue::Fixed32(2)),
            ]
        );
    }

    #[test]
    fn max_varint_is_accepted_and_eleven_bytes_are_not() {
        let mut max = vec![0x08];
        max.extend([0xff; 9]);
        max.push(0x01);
        assert_eq!(
            fields(&max).unwrap(),
            vec![(1, WireValue::Varint(u64::MAX))]
        );

        let mut overflow = vec![0x08];
        overflow.extend([0xff; 9]);
        overflow.push(0x02);
        assert_eq!(fields(&overflow), Err(ProtobufError::BadVarint));

        let mut long = vec![0x08];
        long.extend([0x80; 10]);
        long.push(0x00);
        assert_eq!(fields(&long), Err(ProtobufError::BadVarint));
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let buf = [0x1a, 0x03, b'a', b'b', b'c', 0x11, 1, 2, 3, 4, 5, 6, 7, 8];
        for cut in 1..buf.len() {
            if cut == 5 {
                continue; // a clean boundary between the two fields
            }
            assert_eq!(
                fields(&buf[..cut]),
                Err(ProtobufError::Truncated),
                "cut at {cut}"
            );
        }
        assert!(fields(&buf).is_ok());
    }

    #[test]
    fn huge_lengths_are_refused_without_allocating() {
        // length 2^63: larger than any input, must not be trusted
        let mut buf = vec![0x0a];
        buf.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        assert_eq!(fields(&buf), Err(ProtobufError::Truncated));
        assert_eq!(
            fields(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(ProtobufError::Truncated)
        );
    }

    #[test]
    fn groups_undefined_wire_types_and_bad_numbers_are_refused() {
        for (key, wire_type) in [(0x0b, 3), (0x0c, 4), (0x0e, 6), (0x0f, 7)] {
            assert_eq!(
                fields(&[key, 0]),
                Err(ProtobufError::UnsupportedWireType { wire_type })
            );
        }
        assert_eq!(fields(&[0x00, 0x00]), Err(ProtobufError::BadFieldNumber));
        // field number 2^29 (one past the maximum), wire type 0
        assert_eq!(
            fields(&[0x80, 0x80, 0x80, 0x80, 0x10, 0]),
            Err(ProtobufError::BadFieldNumber)
        );
    }
}
