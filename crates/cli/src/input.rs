//! Reading Okta events from exported files.
//!
//! A file holds one of: an EventBridge event or a LogEvent (one JSON object, possibly
//! pretty-printed, or several concatenated as `jq` prints them), a JSON array of
//! either (what `GET /api/v1/logs` returns; several arrays in a row are read as
//! pages), or JSON Lines of either. Gzip is recognised by its magic bytes. The form
//! is told from the content, never the name, and everything is streamed: only the
//! record being parsed is held in memory.
//!
//! A record that cannot be used is reported with its line and skipped. Reasons
//! never quote the input: a username field may hold a password.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use okta_itdr_core::event::{EventError, LogEvent};
use okta_itdr_core::ingest::{check_envelope, Rejection};
use okta_itdr_core::sigma::RuleSet;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

/// In directories, only these files are read (and the same names ending in `.gz`).
pub const DIR_EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson"];

const BUFFER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: no such file or directory", .0.display())]
    NotFound(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// The files named on the command line, directories expanded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// In the order given; a directory's files in name order, depth first.
    pub files: Vec<PathBuf>,
    /// Files in directories that were not read (not JSON by name, or hidden).
    pub ignored: usize,
    /// Total size on disk, for progress.
    pub bytes: u64,
}

/// Checks every path exists before anything is read, then lists the files.
pub fn discover(paths: &[PathBuf]) -> Result<Discovered, InputError> {
    for p in paths {
        match std::fs::metadata(p) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InputError::NotFound(p.clone()))
            }
            Err(e) => {
                return Err(InputError::Io {
                    path: p.clone(),
                    source: e,
                })
            }
        }
    }
    let mut found = Discovered::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| InputError::Io {
            path: p.clone(),
            source: e,
        })?;
        if meta.is_dir() {
            walk(p, &mut found)?;
        } else {
            found.bytes += meta.len();
            found.files.push(p.clone());
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Discovered) -> Result<(), InputError> {
    let io_err = |e| InputError::Io {
        path: dir.to_owned(),
        source: e,
    };
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .collect::<Result<_, _>>()
        .map_err(io_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            found.ignored += 1;
            continue;
        }
        // Symbolic links to directories are not followed (no cycles); links to files are read.
        let file_type = entry.file_type().map_err(|e| InputError::Io {
            path: path.clone(),
            source: e,
        })?;
        if file_type.is_dir() {
            walk(&path, found)?;
            continue;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => {
                found.ignored += 1;
                continue;
            }
        };
        if is_json_name(&name) {
            found.bytes += meta.len();
            found.files.push(path);
        } else {
            found.ignored += 1;
        }
    }
    Ok(())
}

fn is_json_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.strip_suffix(".gz").unwrap_or(&lower);
    base.rsplit_once('.')
        .is_some_and(|(_, ext)| DIR_EXTENSIONS.contains(&ext))
}

/// Counts the bytes read from a file, for progress.
struct Counting<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Opens a file for reading, decompressing it when it is gzip (told by content).
pub fn open(path: &Path, counter: Option<Arc<AtomicU64>>) -> io::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path)?;
    let mut reader = BufReader::with_capacity(
        BUFFER,
        Counting {
            inner: file,
            counter,
        },
    );
    if reader.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        return Ok(Box::new(BufReader::with_capacity(BUFFER, gz)));
    }
    Ok(Box::new(reader))
}

/// Why a record was skipped. The message never quotes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    InvalidJson(String),
    NotLogEvent(String),
    NotOktaSource(String),
    NotSystemLog(String),
    /// A uuid, identity, IP or device hash too long for a storage key.
    KeyTooLong(String),
    Unreadable(String),
}

impl SkipReason {
    /// Short and stable, for summaries.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::InvalidJson(_) => "invalid_json",
            SkipReason::NotLogEvent(_) => "not_log_event",
            SkipReason::NotOktaSource(_) => "not_okta_source",
            SkipReason::NotSystemLog(_) => "not_system_log",
            SkipReason::KeyTooLong(_) => "key_too_long",
            SkipReason::Unreadable(_) => "read_error",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            SkipReason::InvalidJson(m)
            | SkipReason::NotLogEvent(m)
            | SkipReason::NotOktaSource(m)
            | SkipReason::NotSystemLog(m)
            | SkipReason::KeyTooLong(m)
            | SkipReason::Unreadable(m) => m,
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl From<Rejection> for SkipReason {
    fn from(r: Rejection) -> Self {
        match r {
            // Envelope routing fields are set by AWS and Okta, not typed by users.
            Rejection::NotOktaSource(_) => SkipReason::NotOktaSource(r.to_string()),
            Rejection::NotSystemLog(_) => SkipReason::NotSystemLog(r.to_string()),
            Rejection::NotLogEvent(e) => SkipReason::NotLogEvent(describe_event_error(&e)),
            // The message names the field and its length, never its value.
            Rejection::KeyTooLong { .. } => SkipReason::KeyTooLong(r.to_string()),
        }
    }
}

fn describe_event_error(e: &EventError) -> String {
    match e {
        EventError::Malformed(m) => format!("not an Okta LogEvent: {}", redact(strip_position(m))),
        EventError::Missing(field) => format!("the LogEvent has no {field}"),
        EventError::BadTimestamp(_) => "the LogEvent's published time is not RFC 3339".to_owned(),
    }
}

/// serde's messages quote offending values (`invalid type: string "…"`); drop them.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => break,
                        _ => {}
                    }
                }
                if out.ends_with(' ') {
                    out.pop();
                }
            }
            '`' => {
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
                out.push_str("`…`");
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// serde_json appends ` at line L column C` (relative to the record).
fn strip_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m)
}

fn invalid_json(e: &serde_json::Error, record_line: u64) -> SkipReason {
    let what = redact(strip_position(&e.to_string()));
    let line = record_line + (e.line().max(1) as u64) - 1;
    if e.line() <= 1 {
        SkipReason::InvalidJson(format!("{what} at column {}", e.column()))
    } else {
        SkipReason::InvalidJson(format!("{what} at line {line}, column {}", e.column()))
    }
}

/// Which shape the last good record of a file had: tried first for the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shape {
    #[default]
    LogEvent,
    Envelope,
}

#[derive(Deserialize)]
struct EnvelopeProbe<'a> {
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "detail-type")]
    detail_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

impl EnvelopeProbe<'_> {
    fn is_envelope(&self) -> bool {
        self.source.is_some() || self.detail_type.is_some() || self.detail.is_some()
    }

    fn event(&self) -> Result<LogEvent, SkipReason> {
        let text =
            |v: Option<&RawValue>| v.and_then(|r| serde_json::from_str::<String>(r.get()).ok());
        let (source, detail_type) = (text(self.source), text(self.detail_type));
        check_envelope(source.as_deref(), detail_type.as_deref())?;
        let detail = self
            .detail
            .ok_or_else(|| SkipReason::NotLogEvent("the EventBridge event has no detail".into()))?;
        let bytes = detail.get().as_bytes();
        ruled_event(bytes).map_err(|e| Rejection::NotLogEvent(e).into())
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

/// Custom rules loaded for this process (`--rules`): evaluated on the raw
/// LogEvent where it is parsed, as the ingest function does.
static RULES: std::sync::OnceLock<Arc<RuleSet>> = std::sync::OnceLock::new();

/// Sets the custom rules once, before any input is read.
pub fn use_rules(rules: Arc<RuleSet>) {
    let _ = RULES.set(rules);
}

/// The event of one JSON text, with the matches of the loaded rules on it:
/// the ingest and poll functions' own parse.
fn ruled_event(text: &[u8]) -> Result<LogEvent, EventError> {
    okta_itdr_core::ingest::ruled_event_from_slice(text, RULES.get().map(|r| &**r))
}

/// One JSON text → an Okta event: an EventBridge envelope (validated like the
/// ingest function does) or a bare LogEvent. `shape` remembers what worked.
pub fn parse_event(bytes: &[u8], line: u64, shape: &mut Shape) -> Result<LogEvent, SkipReason> {
    let bytes = trim(bytes);
    if bytes.first() != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Err(e) => invalid_json(&e, line),
            Ok(_) => SkipReason::NotLogEvent("not a JSON object".into()),
        });
    }
    let mut bare_error = None;
    let order = match shape {
        Shape::LogEvent => [Shape::LogEvent, Shape::Envelope],
        Shape::Envelope => [Shape::Envelope, Shape::LogEvent],
    };
    for attempt in order {
        match attempt {
            Shape::LogEvent => match ruled_event(bytes) {
                Ok(event) => {
                    *shape = Shape::LogEvent;
                    return Ok(event);
                }
                Err(EventError::Malformed(m)) => {
                    if let Err(e) = serde_json::from_slice::<IgnoredAny>(bytes) {
                        return Err(invalid_json(&e, line));
                    }
                    bare_error = Some(describe_event_error(&EventError::Malformed(m)));
                }
                Err(e) => bare_error = Some(describe_event_error(&e)),
            },
            Shape::Envelope => match serde_json::from_slice::<EnvelopeProbe<'_>>(bytes) {
                Ok(probe) if probe.is_envelope() => {
                    *shape = Shape::Envelope;
                    return probe.event();
                }
                Ok(_) => {}
                Err(e) => return Err(invalid_json(&e, line)),
            },
        }
    }
    Err(SkipReason::NotLogEvent(bare_error.unwrap_or_else(|| {
        "neither an EventBridge event nor an Okta LogEvent".into()
    })))
}

/// One input record: an event, or why it was skipped, with the line it starts on.
#[derive(Debug)]
pub struct Record {
    pub line: u64,
    /// Boxed: a LogEvent is large, and records are moved through buffers.
    pub result: Result<Box<LogEvent>, SkipReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Start,
    /// JSON Lines: one record per line.
    Lines,
    /// `[ … ]`: one record per element; further arrays may follow.
    Array,
    /// Whitespace-separated JSON values, each spanning lines.
    Values,
    Done,
}

/// Splits a byte stream into top-level JSON texts without parsing them: tracks
/// strings and nesting only, so a bad element does not stop the rest.
#[derive(Default)]
struct Splitter {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// A top-level scalar in a value stream (ends at whitespace).
    scalar: bool,
    /// Inside `[`, between elements (array mode only).
    in_array: bool,
    elem: Vec<u8>,
    elem_line: u64,
}

impl Splitter {
    /// Keeps a byte of a string, minding its escapes; false (and nothing
    /// kept) outside strings.
    fn string_byte(&mut self, b: u8) -> bool {
        if !self.in_string {
            return false;
        }
        self.elem.push(b);
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = false;
        }
        true
    }
}

/// What the splitter found after feeding bytes.
enum Split {
    /// A complete element or value is in `elem`.
    Element,
    /// The array closed (after its last element, if one is in `elem`).
    ArrayEnd,
    /// Non-whitespace after an array where only another array may start.
    Trailing,
}

/// Streams records out of one file.
pub struct RecordReader<'a> {
    src: Box<dyn BufRead + Send + 'a>,
    mode: Mode,
    /// Newlines consumed so far: the current line is `newlines + 1`.
    newlines: u64,
    shape: Shape,
    buf: Vec<u8>,
    split: Splitter,
    queued: VecDeque<Record>,
}

impl<'a> RecordReader<'a> {
    pub fn new(src: Box<dyn BufRead + Send + 'a>) -> Self {
        RecordReader {
            src,
            mode: Mode::Start,
            newlines: 0,
            shape: Shape::default(),
            buf: Vec::new(),
            split: Splitter::default(),
            queued: VecDeque::new(),
        }
    }

    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        RecordReader::new(Box::new(bytes))
    }

    fn fail(&mut self, e: io::Error) -> Option<Record> {
        self.mode = Mode::Done;
        Some(Record {
            line: self.newlines + 1,
            result: Err(SkipReason::Unreadable(format!("read error: {e}"))),
        })
    }

    fn record(&mut self, line: u64, bytes: &[u8]) -> Record {
        Record {
            line,
            result: parse_event(bytes, line, &mut self.shape).map(Box::new),
        }
    }

    /// Skips a byte-order mark and whitespace; returns the first byte, if any.
    fn skip_whitespace(&mut self, bom: bool) -> io::Result<Option<u8>> {
        let mut first = bom;
        loop {
            let buf = self.src.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut n = 0;
            if first && buf.starts_with(b"\xEF\xBB\xBF") {
                n = 3;
            }
            first = false;
            while n < buf.len() && buf[n].is_ascii_whitespace() {
                if buf[n] == b'\n' {
                    self.newlines += 1;
                }
                n += 1;
            }
            if n < buf.len() {
                let b = buf[n];
                self.src.consume(n);
                return Ok(Some(b));
            }
            self.src.consume(n);
        }
    }

    /// Decides the form from the first bytes.
    fn start(&mut self) -> Option<Record> {
        let first = match self.skip_whitespace(true) {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.mode = Mode::Done;
                return None;
            }
            Err(e) => return self.fail(e),
        };
        if first == b'[' {
            self.mode = Mode::Array;
            return self.next_split();
        }
        let line = self.newlines + 1;
        self.buf.clear();
        if let Err(e) = self.src.read_until(b'\n', &mut self.buf) {
            return self.fail(e);
        }
        let head = trim(&self.buf);
        let complete = serde_json::from_slice::<IgnoredAny>(head);
        let opens_value = head.first() == Some(&b'{');
        match complete {
            Err(e)
                if e.classify() == serde_json::error::Category::Eof
                    && opens_value
                    && !self.second_line_is_json() =>
            {
                // A value spanning lines: one pretty-printed event, or several.
                self.mode = Mode::Values;
                let first_line = std::mem::take(&mut self.buf);
                self.feed_prefix(first_line, line)
            }
            _ => {
                self.mode = Mode::Lines;
                if self.buf.ends_with(b"\n") {
                    self.newlines += 1;
                }
                let bytes = std::mem::take(&mut self.buf);
                let rec = self.record(line, &bytes);
                self.buf = bytes;
                Some(rec)
            }
        }
    }

    /// Whether the next non-blank line is a complete JSON text on its own, which
    /// makes the file JSON Lines whose first line is broken. Peeks only.
    fn second_line_is_json(&mut self) -> bool {
        let Ok(buf) = self.src.fill_buf() else {
            return false;
        };
        let mut rest = buf;
        loop {
            let (line, tail) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let t = trim(line);
            if !t.is_empty() {
                return t.first() == Some(&b'{') && serde_json::from_slice::<IgnoredAny>(t).is_ok();
            }
            if tail.is_empty() {
                return false;
            }
            rest = tail;
        }
    }

    /// Feeds the already-read first line of a value stream to the splitter.
    fn feed_prefix(&mut self, prefix: Vec<u8>, line: u64) -> Option<Record> {
        let s = &mut self.split;
        s.elem_line = line;
        for &b in &prefix {
            if b == b'\n' {
                self.newlines += 1;
            }
            // The prefix opens a value and never completes it (that was checked).
            Self::feed_value_byte(s, b, self.newlines + 1);
        }
        self.buf = prefix;
        self.next_split()
    }

    /// Value-stream state machine for one byte; true when a value completed.
    fn feed_value_byte(s: &mut Splitter, b: u8, line: u64) -> bool {
        if s.string_byte(b) {
            return false;
        }
        if s.scalar {
            if b.is_ascii_whitespace() {
                s.scalar = false;
                return true;
            }
            s.elem.push(b);
            if b == b'"' {
                s.in_string = true;
            }
            return false;
        }
        if s.elem.is_empty() {
            if b.is_ascii_whitespace() {
                return false;
            }
            s.elem_line = line;
        }
        s.elem.push(b);
        match b {
            b'"' => s.in_string = true,
            b'{' | b'[' => s.depth += 1,
            b'}' | b']' if s.depth > 0 => {
                s.depth -= 1;
                return s.depth == 0;
            }
            _ if s.depth == 0 => s.scalar = true,
            _ => {}
        }
        false
    }

    /// Array state machine for one byte.
    fn feed_array_byte(s: &mut Splitter, b: u8, line: u64) -> Option<Split> {
        if s.string_byte(b) {
            return None;
        }
        if !s.in_array {
            return match b {
                b'[' => {
                    s.in_array = true;
                    None
                }
                _ if b.is_ascii_whitespace() => None,
                _ => {
                    s.elem_line = line;
                    Some(Split::Trailing)
                }
            };
        }
        if s.depth == 0 {
            match b {
                b',' => {
                    if s.elem.is_empty() {
                        s.elem_line = line;
                    }
                    return Some(Split::Element);
                }
                b']' => {
                    s.in_array = false;
                    return Some(Split::ArrayEnd);
                }
                _ if b.is_ascii_whitespace() && s.elem.is_empty() => return None,
                _ => {}
            }
        }
        if s.elem.is_empty() {
            s.elem_line = line;
        }
        s.elem.push(b);
        match b {
            b'"' => s.in_string = true,
            b'{' | b'[' => s.depth += 1,
            b'}' | b']' => s.depth = s.depth.saturating_sub(1),
            _ => {}
        }
        None
    }

    /// Reads until the splitter yields a record (array and value-stream modes).
    fn next_split(&mut self) -> Option<Record> {
        loop {
            let buf = match self.src.fill_buf() {
                Ok(b) => b,
                Err(e) => return self.fail(e),
            };
            if buf.is_empty() {
                return self.split_eof();
            }
            let mut used = 0;
            let mut found = None;
            for &b in buf {
                used += 1;
                let line = self.newlines + 1;
                if b == b'\n' {
                    self.newlines += 1;
                }
                let s = &mut self.split;
                let step = match self.mode {
                    Mode::Array => Self::feed_array_byte(s, b, line),
                    _ => Self::feed_value_byte(s, b, line).then_some(Split::Element),
                };
                if let Some(step) = step {
                    found = Some(step);
                    break;
                }
            }
            self.src.consume(used);
            let Some(step) = found else { continue };
            let line = self.split.elem_line;
            let elem = std::mem::take(&mut self.split.elem);
            let rec = match step {
                Split::Trailing => {
                    self.mode = Mode::Done;
                    Some(Record {
                        line,
                        result: Err(SkipReason::InvalidJson(
                            "unexpected data after the JSON array".into(),
                        )),
                    })
                }
                Split::Element if elem.is_empty() => Some(Record {
                    line,
                    result: Err(SkipReason::InvalidJson("empty array element".into())),
                }),
                Split::ArrayEnd if elem.is_empty() => None,
                Split::Element | Split::ArrayEnd => Some(self.record(line, &elem)),
            };
            self.split.elem = elem;
            self.split.elem.clear();
            if let Some(rec) = rec {
                return Some(rec);
            }
        }
    }

    fn split_eof(&mut self) -> Option<Record> {
        self.mode = Mode::Done;
        let s = &mut self.split;
        let line = if s.elem.is_empty() {
            self.newlines + 1
        } else {
            s.elem_line
        };
        if s.in_array || s.depth > 0 || s.in_string {
            let what = if s.in_array {
                "the file ends inside a JSON array"
            } else {
                "the file ends inside a JSON value"
            };
            return Some(Record {
                line,
                result: Err(SkipReason::InvalidJson(what.into())),
            });
        }
        if !s.elem.is_empty() {
            let elem = std::mem::take(&mut s.elem);
            return Some(self.record(line, &elem));
        }
        None
    }

    fn next_line(&mut self) -> Option<Record> {
        loop {
            self.buf.clear();
            match self.src.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.mode = Mode::Done;
                    return None;
                }
                Ok(_) => {}
                Err(e) => return self.fail(e),
            }
            let line = self.newlines + 1;
            if self.buf.ends_with(b"\n") {
                self.newlines += 1;
            }
            if trim(&self.buf).is_empty() {
                continue;
            }
            let bytes = std::mem::take(&mut self.buf);
            let rec = self.record(line, &bytes);
            self.buf = bytes;
            return Some(rec);
        }
    }
}

impl Iterator for RecordReader<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if let Some(r) = self.queued.pop_front() {
            return Some(r);
        }
        match self.mode {
            Mode::Start => self.start(),
            Mode::Lines => self.next_line(),
            Mode::Array | Mode::Values => self.next_split(),
            Mode::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn event(uuid: &str, published: &str) -> String {
        format!(
            r#"{{"uuid":"{uuid}","published":"{published}","eventType":"user.session.start","actor":{{"id":"00u1","type":"User","alternateId":"a@b.c"}}}}"#
        )
    }

    fn envelope(uuid: &str, published: &str) -> String {
        format!(
            r#"{{"version":"0","id":"e-{uuid}","detail-type":"SystemLog","source":"aws.partner/okta.com/acme/stream","time":"{published}","detail":{}}}"#,
            event(uuid, published)
        )
    }

    /// (line, uuid or reason code) for every record.
    fn read(bytes: &[u8]) -> Vec<(u64, String)> {
        RecordReader::from_bytes(bytes)
            .map(|r| {
                (
                    r.line,
                    r.result
                        .map(|e| e.uuid)
                        .unwrap_or_else(|s| s.code().to_owned()),
                )
            })
            .collect()
    }

    fn pairs(v: &[(u64, &str)]) -> Vec<(u64, String)> {
        v.iter().map(|(l, s)| (*l, (*s).to_owned())).collect()
    }

    /// A LogEvent `a`, an envelope `b` and a LogEvent `c`, a minute apart.
    fn a_b_c() -> [String; 3] {
        [
            event("a", "2026-11-10T10:00:00Z"),
            envelope("b", "2026-11-10T10:01:00Z"),
            event("c", "2026-11-10T10:02:00Z"),
        ]
    }

    #[test]
    fn json_lines_of_log_events_and_envelopes() {
        let [a, b, c] = a_b_c();
        let text = format!("{a}\n\n{b}\r\n{c}\n");
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[(1, "a"), (3, "b"), (4, "c")])
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_line_and_the_rest_is_read() {
        let text = format!(
            "{}\nnot json at all\n{{\"uuid\":\"x\"\n[1,2]\n{}\n{}\n{{\"source\":\"aws.ec2\",\"detail-type\":\"x\",\"detail\":{{}}}}\n{}",
            event("a", "2026-11-10T10:00:00Z"),
            r#"{"uuid":"b","eventType":"x"}"#,
            r#"{"version":"0","source":"aws.partner/okta.com/a/b","detail-type":"Other","detail":{}}"#,
            event("z", "2026-11-10T10:09:00Z"),
        );
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[
                (1, "a"),
                (2, "invalid_json"),
                (3, "invalid_json"),
                (4, "not_log_event"),
                (5, "not_log_event"),
                (6, "not_system_log"),
                (7, "not_okta_source"),
                (8, "z"),
            ])
        );
    }

    #[test]
    fn a_first_line_that_is_broken_does_not_make_json_lines_a_single_value() {
        let text = format!(
            "{{\"uuid\": \"broken\n{}\n{}\n",
            event("a", "2026-11-10T10:00:00Z"),
            event("b", "2026-11-10T10:00:01Z")
        );
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[(1, "invalid_json"), (2, "a"), (3, "b")])
        );
    }

    #[test]
    fn a_json_array_of_log_events_with_element_lines() {
        let [a, b, c] = a_b_c();
        let text = format!("[\n  {a},\n  {b},\n  17,\n\n  {c}\n]\n");
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[(2, "a"), (3, "b"), (4, "not_log_event"), (6, "c")])
        );
    }

    #[test]
    fn pretty_printed_array_elements_start_on_their_line() {
        let pretty = |uuid: &str| {
            serde_json::to_string_pretty(
                &serde_json::from_str::<serde_json::Value>(&event(uuid, "2026-11-10T10:00:00Z"))
                    .unwrap(),
            )
            .unwrap()
        };
        let text = format!("[{},\n{}]", pretty("a"), pretty("b"));
        let lines_of_a = pretty("a").lines().count() as u64;
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[(1, "a"), (lines_of_a + 1, "b")])
        );
    }

    #[test]
    fn pages_of_arrays_and_broken_elements() {
        let text = format!(
            "[{}]\n[{}, {{\"uuid\": oops}}, {}]",
            event("a", "2026-11-10T10:00:00Z"),
            event("b", "2026-11-10T10:00:00Z"),
            event("c", "2026-11-10T10:00:00Z")
        );
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[(1, "a"), (2, "b"), (2, "invalid_json"), (2, "c")])
        );
        assert_eq!(read(b"[]"), pairs(&[]));
        assert_eq!(
            read(b"[ ,"),
            pairs(&[(1, "invalid_json"), (1, "invalid_json")])
        );
        assert_eq!(
            read(b"[{\"a\":1}] trailing"),
            pairs(&[(1, "not_log_event"), (1, "invalid_json")])
        );
    }

    #[test]
    fn a_truncated_array_is_reported_once() {
        let text = format!(
            "[\n{},\n{{\"uuid\":\"b\",",
            event("a", "2026-11-10T10:00:00Z")
        );
        assert_eq!(
            read(text.as_bytes()),
            pairs(&[(2, "a"), (3, "invalid_json")])
        );
    }

    #[test]
    fn a_pretty_printed_envelope_and_concatenated_values() {
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&envelope("a", "2026-11-10T10:00:00Z"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(read(pretty.as_bytes()), pairs(&[(1, "a")]));
        let n = pretty.lines().count() as u64;
        let two = format!("\n{pretty}\n{pretty}\n");
        assert_eq!(read(two.as_bytes()), pairs(&[(2, "a"), (n + 2, "a")]));
        let broken = format!("{}\n  \"oops\"\n}}", &pretty[..pretty.len() - 2]);
        let got = read(broken.as_bytes());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], (1, "invalid_json".to_owned()));
    }

    #[test]
    fn the_sample_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let reader = RecordReader::new(open(&root.join("signin-success.json"), None).unwrap());
        let got: Vec<Record> = reader.collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].result.is_ok());
        let reader = RecordReader::new(open(&root.join("non-okta-event.json"), None).unwrap());
        let got: Vec<Record> = reader.collect();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].result.as_ref().unwrap_err().code(),
            "not_okta_source"
        );
        let reader =
            RecordReader::new(open(&root.join("scenarios/brute-force.jsonl"), None).unwrap());
        let got: Vec<Record> = reader.collect();
        assert_eq!(got.len(), 12);
        assert!(got.iter().all(|r| r.result.is_ok()));
    }

    #[test]
    fn gzip_is_told_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.data");
        let text = format!(
            "[{}, {}]",
            event("a", "2026-11-10T10:00:00Z"),
            event("b", "2026-11-10T10:00:01Z")
        );
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let got: Vec<String> = RecordReader::new(open(&path, Some(counter.clone())).unwrap())
            .map(|r| r.result.unwrap().uuid)
            .collect();
        assert_eq!(got, vec!["a", "b"]);
        assert_eq!(
            counter.load(Ordering::Relaxed),
            std::fs::metadata(&path).unwrap().len()
        );
    }

    #[test]
    fn a_corrupt_gzip_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.json.gz");
        std::fs::write(&path, b"\x1f\x8b\x08\x00garbage-garbage-garbage").unwrap();
        let got: Vec<Record> = RecordReader::new(open(&path, None).unwrap()).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].result.as_ref().unwrap_err().code(), "read_error");
    }

    #[test]
    fn reasons_never_quote_the_input() {
        let secret = "Winter2026!Pass";
        let cases = [
            format!(
                r#"{{"uuid":"a","published":"2026-11-10T10:00:00Z","eventType":"x","actor":"{secret}"}}"#
            ),
            format!(r#"{{"uuid":"a","published":"{secret}","eventType":"x"}}"#),
            format!(
                r#"{{"uuid":"a","published":"2026-11-10T10:00:00Z","eventType":"x","actor":{{"alternateId":"{secret}""#
            ),
            format!(
                r#"{{"source":"aws.partner/okta.com/a/b","detail-type":"SystemLog","detail":{{"actor":["{secret}"]}}}}"#
            ),
            format!(r#"["{secret}"]"#),
            secret.to_string(),
        ];
        for case in cases {
            for r in RecordReader::from_bytes(case.as_bytes()) {
                let reason = r.result.unwrap_err();
                assert!(!reason.to_string().contains("Winter"), "{reason}");
            }
        }
    }

    #[test]
    fn directories_are_read_recursively_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("b/inner")).unwrap();
        for f in [
            "c.jsonl",
            "a.json",
            "b/inner/z.json.gz",
            "b/y.ndjson",
            "README.md",
            ".hidden.json",
            "b/notes.txt",
        ] {
            std::fs::write(d.join(f), b"{}").unwrap();
        }
        let found = discover(&[d.to_owned()]).unwrap();
        let rel: Vec<String> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rel,
            vec!["a.json", "b/inner/z.json.gz", "b/y.ndjson", "c.jsonl"]
        );
        assert_eq!(found.ignored, 3);
        let missing = d.join("nope");
        let err = discover(&[d.join("a.json"), missing.clone()]).unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn redaction_removes_quoted_values() {
        assert_eq!(
            redact(r#"invalid type: string "p\"w", expected struct Actor"#),
            "invalid type: string, expected struct Actor"
        );
        assert_eq!(
            redact("invalid value: integer `5`, expected x"),
            "invalid value: integer `…`, expected x"
        );
    }
}
