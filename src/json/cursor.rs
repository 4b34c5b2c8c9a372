//! The validating cursor. See the module docs of [`crate::json`] for why it exists.

use super::find::quote_or_backslash;

/// Deepest nesting accepted inside one record. serde_json uses 128 too; AWS records nest a
/// handful of levels, so anything deeper is hostile or broken and is rejected, not recursed.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// One JSON value as a span of the record: `raw` is exactly the source text of the value
/// (strings include their quotes), already validated.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    pub kind: Kind,
    pub raw: &'a [u8],
}

impl<'a> Value<'a> {
    /// The escaped content of a string value, without its quotes.
    pub fn str_content(&self) -> Option<&'a [u8]> {
        (self.kind == Kind::String).then(|| &self.raw[1..self.raw.len() - 1])
    }

    /// Fields of an object value. The value was validated when it was read, so iterating it
    /// again cannot fail in practice; the iterator still reports errors rather than assume.
    pub fn fields(&self) -> Option<Fields<'a>> {
        (self.kind == Kind::Object).then(|| Fields {
            c: Cursor::trusted(self.raw),
            state: FieldsState::Start,
        })
    }

    /// First element of an array value.
    pub fn first_element(&self) -> Option<Value<'a>> {
        if self.kind != Kind::Array {
            return None;
        }
        let mut c = Cursor::trusted(self.raw);
        c.pos = 1;
        c.skip_ws();
        if c.peek() == Some(b']') {
            return None;
        }
        c.value().ok()
    }

    /// Looks up a key in an object value (first match).
    pub fn get(&self, key: &[u8]) -> Option<Value<'a>> {
        let fields = self.fields()?;
        for f in fields {
            match f {
                Ok((k, v)) if k == key => return Some(v),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    pub fn is_null(&self) -> bool {
        self.kind == Kind::Null
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    UnexpectedEnd,
    UnexpectedByte(u8),
    BadEscape,
    ControlCharInString,
    BadNumber,
    LoneSurrogate,
    TooDeep,
    TrailingData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: usize,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorKind::UnexpectedEnd => f.write_str("unexpected end of JSON"),
            ErrorKind::UnexpectedByte(b) if b.is_ascii_graphic() => {
                write!(f, "unexpected character '{}'", *b as char)
            }
            ErrorKind::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02x}"),
            ErrorKind::BadEscape => f.write_str("invalid escape in string"),
            ErrorKind::ControlCharInString => f.write_str("control character in string"),
            ErrorKind::BadNumber => f.write_str("invalid number"),
            ErrorKind::LoneSurrogate => f.write_str("\\u escape of an unpaired UTF-16 surrogate"),
            ErrorKind::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH}"),
            ErrorKind::TrailingData => f.write_str("data after the JSON value"),
        }
    }
}

/// A position in one record's bytes. The caller guarantees the bytes are valid UTF-8.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Whether the buffer has any byte below 0x20 at all. Minified records (the normal case)
    /// have none, and then no string can hold a raw control character: the per-string check
    /// is skipped and strings are skipped by `memchr` alone.
    controls: bool,
    /// The buffer is a value this module already validated: skip values by matching quotes
    /// and brackets only. Nested walks (`userIdentity.sessionContext...`) would otherwise
    /// validate the same bytes again at every level.
    trusted: bool,
    /// Whether insignificant whitespace was skipped.
    ws: bool,
    /// The first error met inside a visitor of [`Cursor::object`], which cannot return it.
    error: Option<Error>,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            controls: has_controls(buf),
            trusted: false,
            ws: false,
            error: None,
        }
    }

    /// Like [`Cursor::new`], for a caller that already knows whether `buf` holds any byte
    /// below 0x20 (the framer tracks it per object instead of per record).
    pub fn with_controls(buf: &'a [u8], controls: bool) -> Self {
        Cursor {
            buf,
            pos: 0,
            controls,
            trusted: false,
            ws: false,
            error: None,
        }
    }

    /// Over bytes this module already validated (a [`Value`], or a record the framer
    /// validated): values are skipped by matching quotes and brackets only.
    pub fn trusted(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            controls: false,
            trusted: true,
            ws: false,
            error: None,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error {
            kind,
            offset: self.pos,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Whether the cursor skipped any whitespace between tokens so far: if not, what it read
    /// is minified and can be copied as it is.
    pub fn saw_whitespace(&self) -> bool {
        self.ws
    }

    #[inline]
    pub fn skip_ws(&mut self) {
        let start = self.pos;
        while let Some(&b) = self.buf.get(self.pos) {
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.ws |= self.pos != start;
    }

    /// Reads exactly one JSON document: a value with only whitespace around it.
    pub fn document(buf: &'a [u8]) -> Result<Value<'a>, Error> {
        let mut c = Cursor::new(buf);
        c.skip_ws();
        let v = c.value()?;
        c.skip_ws();
        if c.pos != buf.len() {
            return Err(c.err(ErrorKind::TrailingData));
        }
        Ok(v)
    }

    /// Reads (validates and skips) the value at the cursor.
    pub fn value(&mut self) -> Result<Value<'a>, Error> {
        let start = self.pos;
        if self.trusted {
            let kind = self.skip_trusted()?;
            return Ok(Value {
                kind,
                raw: &self.buf[start..self.pos],
            });
        }
        let kind = match self.peek() {
            None => return Err(self.err(ErrorKind::UnexpectedEnd)),
            Some(b'"') => {
                self.string()?;
                Kind::String
            }
            Some(b'{') => {
                self.container()?;
                Kind::Object
            }
            Some(b'[') => {
                self.container()?;
                Kind::Array
            }
            Some(b't') => {
                self.literal(b"true")?;
                Kind::Bool
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Kind::Bool
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Kind::Null
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(b) => return Err(self.err(ErrorKind::UnexpectedByte(b))),
        };
        Ok(Value {
            kind,
            raw: &self.buf[start..self.pos],
        })
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), Error> {
        if self.buf[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else if lit.starts_with(&self.buf[self.pos..]) {
            self.pos = self.buf.len();
            Err(self.err(ErrorKind::UnexpectedEnd))
        } else {
            Err(self.err(ErrorKind::UnexpectedByte(self.buf[self.pos])))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err(ErrorKind::BadNumber)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err(ErrorKind::BadNumber));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err(ErrorKind::BadNumber));
            }
        }
        Ok(())
    }

    /// Skips a string starting at the opening quote, validating escapes and rejecting raw
    /// control characters (which JSON forbids and Azure's parser would reject).
    fn string(&mut self) -> Result<(), Error> {
        self.pos += 1;
        loop {
            let rest = &self.buf[self.pos..];
            let Some(i) = quote_or_backslash(rest) else {
                self.pos = self.buf.len();
                return Err(self.err(ErrorKind::UnexpectedEnd));
            };
            if self.controls {
                if let Some(off) = rest[..i].iter().position(|&b| b < 0x20) {
                    self.pos += off;
                    return Err(self.err(ErrorKind::ControlCharInString));
                }
            }
            self.pos += i;
            if rest[i] == b'"' {
                self.pos += 1;
                return Ok(());
            }
            // Backslash: one escape.
            match self.buf.get(self.pos + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 2,
                Some(b'u') => {
                    // Strings are copied to the output still escaped, so an unpaired surrogate
                    // would reach Azure, whose strict parser rejects the whole request. Such a
                    // record is invalid here, as it is for serde_json.
                    let unit = self.hex4(self.pos + 2)?;
                    self.pos += 6;
                    if (0xDC00..0xE000).contains(&unit) {
                        return Err(self.err(ErrorKind::LoneSurrogate));
                    }
                    if (0xD800..0xDC00).contains(&unit) {
                        if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.err(ErrorKind::LoneSurrogate));
                        }
                        let low = self.hex4(self.pos + 2)?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return Err(self.err(ErrorKind::LoneSurrogate));
                        }
                        self.pos += 6;
                    }
                }
                Some(_) => return Err(self.err(ErrorKind::BadEscape)),
                None => {
                    self.pos = self.buf.len();
                    return Err(self.err(ErrorKind::UnexpectedEnd));
                }
            }
        }
    }

    /// Skips a value known to be valid. Bounds are still checked: a bug must not panic.
    fn skip_trusted(&mut self) -> Result<Kind, Error> {
        let kind = match self.peek() {
            None => return Err(self.err(ErrorKind::UnexpectedEnd)),
            Some(b'"') => {
                self.skip_string_trusted()?;
                return Ok(Kind::String);
            }
            Some(open @ (b'{' | b'[')) => {
                let kind = if open == b'{' {
                    Kind::Object
                } else {
                    Kind::Array
                };
                let buf = self.buf;
                let mut i = self.pos;
                let mut depth = 0usize;
                while i < buf.len() {
                    match CLASS[buf[i] as usize] {
                        OTHER => i += 1,
                        QUOTE => match string_end(buf, i + 1) {
                            Some(end) => i = end,
                            None => break,
                        },
                        OPEN => {
                            depth += 1;
                            i += 1;
                        }
                        _ => {
                            depth -= 1;
                            i += 1;
                            if depth == 0 {
                                self.pos = i;
                                return Ok(kind);
                            }
                        }
                    }
                }
                self.pos = buf.len();
                return Err(self.err(ErrorKind::UnexpectedEnd));
            }
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            Some(_) => Kind::Number,
        };
        // Literals and numbers end at a delimiter.
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
        Ok(kind)
    }

    #[inline(always)]
    fn skip_string_trusted(&mut self) -> Result<(), Error> {
        match string_end(self.buf, self.pos + 1) {
            Some(end) => {
                self.pos = end;
                Ok(())
            }
            None => {
                self.pos = self.buf.len();
                Err(self.err(ErrorKind::UnexpectedEnd))
            }
        }
    }

    /// The value of the four hex digits at `at`.
    fn hex4(&mut self, at: usize) -> Result<u32, Error> {
        let Some(h) = self.buf.get(at..at + 4) else {
            self.pos = self.buf.len();
            return Err(self.err(ErrorKind::UnexpectedEnd));
        };
        let mut v = 0;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err(ErrorKind::BadEscape))?;
            v = (v << 4) | d;
        }
        Ok(v)
    }

    /// Skips an object or array with full grammar checks, iteratively: nested containers are
    /// entered by the outer loop, never by recursion. The bit stack records for each open level
    /// whether it is an object (1) or an array (0).
    fn container(&mut self) -> Result<(), Error> {
        let mut stack: u128 = 0;
        let mut depth: usize = 0;
        loop {
            // At an opener.
            let is_obj = self.buf[self.pos] == b'{';
            if depth == MAX_DEPTH {
                return Err(self.err(ErrorKind::TooDeep));
            }
            stack = (stack << 1) | is_obj as u128;
            depth += 1;
            self.pos += 1;
            self.skip_ws();
            let close = if is_obj { b'}' } else { b']' };
            let mut after_member = false;
            if self.peek() == Some(close) {
                self.pos += 1;
                depth -= 1;
                stack >>= 1;
                if depth == 0 {
                    return Ok(());
                }
                after_member = true;
            }
            loop {
                if after_member && self.after_member(&mut stack, &mut depth)? {
                    return Ok(());
                }
                if stack & 1 == 1 {
                    self.key_colon()?;
                }
                match self.peek() {
                    Some(b'{' | b'[') => break,
                    Some(_) => {
                        self.value()?;
                    }
                    None => return Err(self.err(ErrorKind::UnexpectedEnd)),
                }
                after_member = true;
            }
        }
    }

    /// After a member: consumes `,` (returns false: another member follows) or closers until a
    /// `,` is found (false) or the outermost container closes (true).
    fn after_member(&mut self, stack: &mut u128, depth: &mut usize) -> Result<bool, Error> {
        loop {
            self.skip_ws();
            let close = if *stack & 1 == 1 { b'}' } else { b']' };
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    return Ok(false);
                }
                Some(b) if b == close => {
                    self.pos += 1;
                    *depth -= 1;
                    *stack >>= 1;
                    if *depth == 0 {
                        return Ok(true);
                    }
                }
                Some(b) => return Err(self.err(ErrorKind::UnexpectedByte(b))),
                None => return Err(self.err(ErrorKind::UnexpectedEnd)),
            }
        }
    }

    /// Reads `"key"` and `:` and the whitespace after it.
    fn key_colon(&mut self) -> Result<&'a [u8], Error> {
        if self.peek() != Some(b'"') {
            return Err(match self.peek() {
                Some(b) => self.err(ErrorKind::UnexpectedByte(b)),
                None => self.err(ErrorKind::UnexpectedEnd),
            });
        }
        let start = self.pos + 1;
        if self.trusted {
            self.skip_string_trusted()?;
        } else {
            self.string()?;
        }
        let key = &self.buf[start..self.pos - 1];
        self.skip_ws();
        match self.peek() {
            Some(b':') => self.pos += 1,
            Some(b) => return Err(self.err(ErrorKind::UnexpectedByte(b))),
            None => return Err(self.err(ErrorKind::UnexpectedEnd)),
        }
        self.skip_ws();
        Ok(key)
    }
}

const OTHER: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;

/// What the trusted skipper cares about in a byte (closers are the remaining class).
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    t[b'"' as usize] = QUOTE;
    t[b'{' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b'}' as usize] = 3;
    t[b']' as usize] = 3;
    t
};

/// In a validated string whose content starts at `from`: the index just past its closing
/// quote.
#[inline(always)]
fn string_end(buf: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let i = from + quote_or_backslash(buf.get(from..)?)?;
        if buf[i] == b'"' {
            return Some(i + 1);
        }
        from = i + 2;
    }
}

/// Whether `buf` has any byte below 0x20 (a loop the compiler vectorises).
pub fn has_controls(buf: &[u8]) -> bool {
    buf.iter().fold(false, |acc, &b| acc | (b < 0x20))
}

/// One member of an object being walked with [`Cursor::object`]: the visitor either takes
/// its value ([`Member::value`]), descends into it ([`Member::object`]), or leaves it (it is
/// then skipped). Descending in place means nested objects are read once, not skipped and
/// read again.
pub struct Member<'c, 'a> {
    c: &'c mut Cursor<'a>,
    consumed: bool,
    /// The value's span when it is already known (from an index): no scan needed.
    known: Option<Value<'a>>,
    /// The index of the value's members, and the record it is relative to, when the value
    /// was indexed: walking it needs no scan either.
    nested: Option<(&'a [u8], &'c [MemberSpan])>,
}

/// Where one member of an indexed object is, relative to the record's first byte: the key's
/// content (between the quotes) and the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberSpan {
    pub key: (u32, u32),
    pub value: (u32, u32),
    /// How many entries after this one index the members of its value (and theirs, depth
    /// first), when the indexer descended into it (see [`super::fast_index_object`]);
    /// [`NOT_INDEXED`] when it did not.
    pub nested: u32,
}

/// [`MemberSpan::nested`] of a member whose value was not indexed.
pub const NOT_INDEXED: u32 = u32::MAX;

impl MemberSpan {
    /// The entries after this one that belong to its value.
    pub fn descendants(&self) -> usize {
        if self.nested == NOT_INDEXED {
            0
        } else {
            self.nested as usize
        }
    }
}

/// The entries of an index that are members of the indexed object itself (not of a value
/// nested in it).
pub fn top_level(index: &[MemberSpan]) -> impl Iterator<Item = &MemberSpan> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let m = index.get(i)?;
        i += 1 + m.descendants();
        Some(m)
    })
}

fn kind_of(first: u8) -> Kind {
    match first {
        b'"' => Kind::String,
        b'{' => Kind::Object,
        b'[' => Kind::Array,
        b't' | b'f' => Kind::Bool,
        b'n' => Kind::Null,
        _ => Kind::Number,
    }
}

/// Indexes the members of the object at the cursor, whose first byte is at `base` in the
/// record: each member, then, for an object value under a `descend` key (`None`: any key),
/// its members and theirs, depth first. Nested objects were validated with their member, so
/// they are walked trusted; the recursion is as deep as the object (at most [`MAX_DEPTH`]).
fn index_members(
    c: &mut Cursor,
    base: u32,
    descend: Option<&[&[u8]]>,
    out: &mut Vec<MemberSpan>,
) -> Result<(), Error> {
    let start = c.pos;
    let at = |p: usize| base + (p - start) as u32;
    c.members(|c, key, key_start| {
        let value_start = c.pos;
        let v = c.value()?;
        let entry = out.len();
        out.push(MemberSpan {
            key: (at(key_start), at(key_start + key.len())),
            value: (at(value_start), at(c.pos)),
            nested: NOT_INDEXED,
        });
        if v.kind == Kind::Object && descend.is_none_or(|d| d.contains(&key)) {
            index_members(&mut Cursor::trusted(v.raw), at(value_start), None, out)?;
            out[entry].nested = (out.len() - entry - 1) as u32;
        }
        Ok(())
    })
}

/// Visits the members of an object from its index (see [`Cursor::index_object`]) without
/// reading the object again; the visitor may still descend into a member's value, which is
/// read from the index too when it was indexed. `rec`: the bytes the index is relative to.
pub fn walk_index<'a>(
    rec: &'a [u8],
    index: &[MemberSpan],
    visit: &mut dyn FnMut(&'a [u8], &mut Member<'_, 'a>),
) {
    let mut i = 0;
    while let Some(m) = index.get(i) {
        let next = i + 1 + m.descendants();
        let nested = match m.nested {
            NOT_INDEXED => None,
            _ => index.get(i + 1..next),
        };
        i = next;
        let (Some(key), Some(raw)) = (
            rec.get(m.key.0 as usize..m.key.1 as usize),
            rec.get(m.value.0 as usize..m.value.1 as usize),
        ) else {
            continue;
        };
        let Some(&first) = raw.first() else { continue };
        let mut c = Cursor::trusted(raw);
        let mut member = Member {
            c: &mut c,
            consumed: false,
            known: Some(Value {
                kind: kind_of(first),
                raw,
            }),
            nested: nested.map(|n| (rec, n)),
        };
        visit(key, &mut member);
    }
}

impl<'a> Member<'_, 'a> {
    /// The member's value as a span (validated unless the cursor is trusted).
    pub fn value(&mut self) -> Result<Value<'a>, Error> {
        self.consumed = true;
        if let Some(v) = self.known {
            return Ok(v);
        }
        let r = self.c.value();
        if let Err(e) = r {
            self.c.error.get_or_insert(e);
        }
        r
    }

    /// Walks the member's value as an object; a value of another kind is skipped.
    pub fn object(
        &mut self,
        visit: &mut dyn FnMut(&'a [u8], &mut Member<'_, 'a>),
    ) -> Result<(), Error> {
        self.consumed = true;
        if let (Some((rec, entries)), Some(Kind::Object)) =
            (self.nested, self.known.map(|v| v.kind))
        {
            walk_index(rec, entries, visit);
            return Ok(());
        }
        let r = if self.c.peek() == Some(b'{') {
            self.c.object(visit)
        } else {
            self.c.value().map(|_| ())
        };
        if let Err(e) = r {
            self.c.error.get_or_insert(e);
        }
        r
    }
}

impl<'a> Cursor<'a> {
    /// The member loop of an object at the cursor: `{`, then for each member its key and
    /// colon are read and `member` is called (with the key and where its content starts) to
    /// consume the value, then `,` or `}`.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8], usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.pos += 1,
            Some(b) => return Err(self.err(ErrorKind::UnexpectedByte(b))),
            None => return Err(self.err(ErrorKind::UnexpectedEnd)),
        }
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key_start = self.pos + 1;
            let key = self.key_colon()?;
            member(self, key, key_start)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b) => return Err(self.err(ErrorKind::UnexpectedByte(b))),
                None => return Err(self.err(ErrorKind::UnexpectedEnd)),
            }
        }
    }

    /// Validates the object at the cursor like [`Cursor::value`] and records where each of
    /// its members is (relative to the object's first byte), so that a later walk needs no
    /// scan at all. The object values of the members named in `descend` are indexed too (see
    /// [`MemberSpan::nested`]). On error `out` may hold a partial index; the caller discards
    /// it.
    pub fn index_object(
        &mut self,
        descend: &[&[u8]],
        out: &mut Vec<MemberSpan>,
    ) -> Result<Value<'a>, Error> {
        let start = self.pos;
        if self.peek() != Some(b'{') {
            return Err(match self.peek() {
                Some(b) => self.err(ErrorKind::UnexpectedByte(b)),
                None => self.err(ErrorKind::UnexpectedEnd),
            });
        }
        index_members(self, 0, Some(descend), out)?;
        Ok(Value {
            kind: Kind::Object,
            raw: &self.buf[start..self.pos],
        })
    }

    /// Walks the object at the cursor, calling `visit` with each member's key. Nesting is only
    /// as deep as the visitor descends (a mapper's fixed schema); values it leaves are skipped
    /// iteratively.
    pub fn object(
        &mut self,
        visit: &mut dyn FnMut(&'a [u8], &mut Member<'_, 'a>),
    ) -> Result<(), Error> {
        self.members(|c, key, _| {
            let mut m = Member {
                c: &mut *c,
                consumed: false,
                known: None,
                nested: None,
            };
            visit(key, &mut m);
            let consumed = m.consumed;
            if let Some(e) = c.error.take() {
                return Err(e);
            }
            if !consumed {
                c.value()?;
            }
            Ok(())
        })
    }
}

/// Iterates the members of an object, validating each value as it is skipped. Keys are the
/// escaped bytes between the quotes (AWS keys never contain escapes).
pub struct Fields<'a> {
    c: Cursor<'a>,
    state: FieldsState,
}

#[derive(PartialEq)]
enum FieldsState {
    Start,
    Member,
    Done,
}

impl<'a> Fields<'a> {
    /// `buf` must start with `{` (after optional whitespace).
    pub fn new(buf: &'a [u8]) -> Self {
        Fields {
            c: Cursor::new(buf),
            state: FieldsState::Start,
        }
    }

    fn step(&mut self) -> Result<Option<(&'a [u8], Value<'a>)>, Error> {
        match self.state {
            FieldsState::Done => return Ok(None),
            FieldsState::Start => {
                self.c.skip_ws();
                match self.c.peek() {
                    Some(b'{') => self.c.pos += 1,
                    Some(b) => return Err(self.c.err(ErrorKind::UnexpectedByte(b))),
                    None => return Err(self.c.err(ErrorKind::UnexpectedEnd)),
                }
                self.c.skip_ws();
                if self.c.peek() == Some(b'}') {
                    self.c.pos += 1;
                    self.state = FieldsState::Done;
                    return Ok(None);
                }
            }
            FieldsState::Member => {
                self.c.skip_ws();
                match self.c.peek() {
                    Some(b',') => {
                        self.c.pos += 1;
                        self.c.skip_ws();
                    }
                    Some(b'}') => {
                        self.c.pos += 1;
                        self.state = FieldsState::Done;
                        return Ok(None);
                    }
                    Some(b) => return Err(self.c.err(ErrorKind::UnexpectedByte(b))),
                    None => return Err(self.c.err(ErrorKind::UnexpectedEnd)),
                }
            }
        }
        let key = self.c.key_colon()?;
        let v = self.c.value()?;
        self.state = FieldsState::Member;
        Ok(Some((key, v)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(&'a [u8], Value<'a>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => None,
            Err(e) => {
                self.state = FieldsState::Done;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Kind {
        Cursor::document(s.as_bytes()).unwrap().kind
    }
    fn bad(s: &str) -> ErrorKind {
        Cursor::document(s.as_bytes()).unwrap_err().kind
    }

    #[test]
    fn accepts_valid_documents() {
        assert_eq!(
            ok(r#"{"a":1,"b":[true,false,null,{"c":"d\n\u00e9"}],"e":{}}"#),
            Kind::Object
        );
        assert_eq!(ok(" [ 1 , -0.5e+3 , [ ] , { } ] "), Kind::Array);
        assert_eq!(ok(r#""x""#), Kind::String);
        assert_eq!(ok("12.0"), Kind::Number);
        assert_eq!(ok(r#"{"a":[[[{"b":[]}]]],"c":1}"#), Kind::Object);
    }

    #[test]
    fn rejects_invalid_documents() {
        assert_eq!(bad(r#"{"a":1"#), ErrorKind::UnexpectedEnd);
        assert_eq!(bad(r#"{"a":1,}"#), ErrorKind::UnexpectedByte(b'}'));
        assert_eq!(bad(r#"{"a" 1}"#), ErrorKind::UnexpectedByte(b'1'));
        assert_eq!(bad(r#"[1 2]"#), ErrorKind::UnexpectedByte(b'2'));
        assert_eq!(bad(r#"{"a":01}"#), ErrorKind::UnexpectedByte(b'1'));
        assert_eq!(bad(r#"{"a":1.}"#), ErrorKind::BadNumber);
        assert_eq!(bad(r#"{"a":"\x"}"#), ErrorKind::BadEscape);
        assert_eq!(bad(r#""\ud800""#), ErrorKind::LoneSurrogate);
        assert_eq!(bad(r#""\udc00\ud800""#), ErrorKind::LoneSurrogate);
        assert_eq!(bad(r#""\ud800\u0041""#), ErrorKind::LoneSurrogate);
        assert_eq!(ok(r#""\ud83d\ude00\u00e9""#), Kind::String);
        assert_eq!(bad("{\"a\":\"x\ny\"}"), ErrorKind::ControlCharInString);
        assert_eq!(bad(r#"{"a":tru}"#), ErrorKind::UnexpectedByte(b't'));
        assert_eq!(bad(r#"{"a":1}]"#), ErrorKind::TrailingData);
        assert_eq!(bad(r#"{"a":[}"#), ErrorKind::UnexpectedByte(b'}'));
        assert_eq!(bad(r#"{1:2}"#), ErrorKind::UnexpectedByte(b'1'));
        assert_eq!(bad(""), ErrorKind::UnexpectedEnd);
    }

    #[test]
    fn index_object_validates_like_value_and_locates_members() {
        let doc = br#"{ "a" : 12.0 , "b":{"x":[1, 2]}, "c":"q\"z" }"#;
        let mut index = Vec::new();
        let v = Cursor::new(doc).index_object(&[], &mut index).unwrap();
        assert_eq!(v.raw, &doc[..]);
        let got: Vec<(&[u8], &[u8])> = index
            .iter()
            .map(|m| {
                (
                    &doc[m.key.0 as usize..m.key.1 as usize],
                    &doc[m.value.0 as usize..m.value.1 as usize],
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"a"[..], &b"12.0"[..]),
                (b"b", br#"{"x":[1, 2]}"#),
                (b"c", br#""q\"z""#)
            ]
        );
        for bad in [
            &br#"{"a":1,}"#[..],
            br#"{"a":[}"#,
            br#"{"a" 1}"#,
            br#"{"a":"\ud800"}"#,
            b"{",
        ] {
            assert!(
                Cursor::new(bad).index_object(&[], &mut Vec::new()).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(bad(&deep), ErrorKind::TooDeep);
        let ok_depth = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(ok(&ok_depth), Kind::Array);
    }

    #[test]
    fn fields_give_raw_spans() {
        let doc = br#" { "a" : 12.0 , "b":{"x":[1, 2]}, "c":"q\"z" } "#;
        let got: Vec<_> = Fields::new(doc).map(|r| r.unwrap()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, b"a");
        assert_eq!(got[0].1.raw, b"12.0");
        assert_eq!(got[1].1.raw, br#"{"x":[1, 2]}"#);
        assert_eq!(got[2].1.str_content().unwrap(), br#"q\"z"#);
        let v = Cursor::document(doc).unwrap();
        assert_eq!(
            v.get(b"b")
                .unwrap()
                .get(b"x")
                .unwrap()
                .first_element()
                .unwrap()
                .raw,
            b"1"
        );
    }
}
