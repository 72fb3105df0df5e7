//! The output file of `fetch`: JSON Lines, gzip when the name ends `.gz`.
//! Each page is written whole (for gzip, as one gzip member), so an interrupted
//! fetch leaves complete pages and at most one cut-off tail, which a resume
//! drops before appending.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use okta_itdr_core::time::{parse_rfc3339_ms, Millis};

/// What an earlier fetch left in the file.
#[derive(Debug, Default)]
pub struct Existing {
    pub events: u64,
    /// The latest `published` in the file: a resumed query starts there.
    pub last_published: Option<Millis>,
    /// The uuids published at exactly that time, which the resumed query
    /// returns again (earlier ones it does not).
    pub at_last: HashSet<String>,
    /// Bytes of complete pages; anything after is a cut-off tail.
    pub valid_len: u64,
}

#[derive(serde::Deserialize)]
struct Key {
    uuid: String,
    published: String,
}

pub fn is_gzip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

impl Existing {
    fn take(&mut self, line: &[u8], path: &Path) -> io::Result<()> {
        let key: Key = serde_json::from_slice(line).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} holds something other than fetched events; choose another -o",
                    path.display()
                ),
            )
        })?;
        let Some(published) = parse_rfc3339_ms(&key.published) else {
            return Ok(());
        };
        self.events += 1;
        match self.last_published {
            Some(last) if published < last => {}
            Some(last) if published == last => {
                self.at_last.insert(key.uuid);
            }
            _ => {
                self.last_published = Some(published);
                self.at_last.clear();
                self.at_last.insert(key.uuid);
            }
        }
        Ok(())
    }
}

/// Reads what an earlier, possibly interrupted, fetch wrote to `path`.
pub fn scan(path: &Path) -> io::Result<Existing> {
    let mut existing = Existing::default();
    if !path.exists() {
        return Ok(existing);
    }
    if is_gzip_name(path) {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        let mut rest: &[u8] = &bytes;
        // One member per page: keep every member that decodes completely.
        while !rest.is_empty() {
            let mut decoder = flate2::bufread::GzDecoder::new(rest);
            let mut text = Vec::new();
            if decoder.read_to_end(&mut text).is_err() {
                break;
            }
            let after = decoder.into_inner();
            let lines: Vec<&[u8]> = text
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            for line in lines {
                existing.take(line, path)?;
            }
            existing.valid_len += (rest.len() - after.len()) as u64;
            rest = after;
        }
    } else {
        let mut reader = BufReader::new(File::open(path)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || !line.ends_with(b"\n") {
                break;
            }
            existing.take(&line[..n - 1], path)?;
            existing.valid_len += n as u64;
        }
    }
    Ok(existing)
}

/// Appends pages to a file (after dropping a cut-off tail) or to stdout.
pub enum Sink<'a> {
    Plain(File),
    Gzip(File),
    Stdout(&'a mut dyn Write),
}

impl Sink<'_> {
    pub fn open(path: &Path, valid_len: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        file.set_len(valid_len)?;
        Ok(if is_gzip_name(path) {
            Sink::Gzip(file)
        } else {
            Sink::Plain(file)
        })
    }

    /// Writes one page and makes it durable before the next request.
    pub fn write_page(&mut self, events: &[&str]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::with_capacity(events.iter().map(|e| e.len() + 1).sum());
        for e in events {
            text.push_str(e);
            text.push('\n');
        }
        match self {
            Sink::Plain(f) => {
                f.write_all(text.as_bytes())?;
                f.sync_data()
            }
            Sink::Gzip(f) => {
                let mut gz = flate2::write::GzEncoder::new(&mut *f, flate2::Compression::default());
                gz.write_all(text.as_bytes())?;
                gz.finish()?;
                f.sync_data()
            }
            Sink::Stdout(w) => {
                w.write_all(text.as_bytes())?;
                w.flush()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(uuid: &str, published: &str) -> String {
        format!(r#"{{"uuid":"{uuid}","published":"{published}","eventType":"x"}}"#)
    }

    #[test]
    fn a_cut_off_tail_is_dropped_and_the_last_second_remembered() {
        for name in ["out.jsonl", "out.jsonl.gz"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(name);
            let mut sink = Sink::open(&path, 0).unwrap();
            let (a, b, c) = (
                line("a", "2026-11-10T00:00:00.000Z"),
                line("b", "2026-11-10T00:00:01.000Z"),
                line("c", "2026-11-10T00:00:01.000Z"),
            );
            sink.write_page(&[&a]).unwrap();
            sink.write_page(&[&b, &c]).unwrap();
            drop(sink);
            let whole = std::fs::metadata(&path).unwrap().len();
            // An interrupted third page.
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(if is_gzip_name(&path) {
                &[0x1f, 0x8b, 8, 0, 0]
            } else {
                b"{\"uuid\":\"d\",\"pub"
            })
            .unwrap();
            drop(f);
            let e = scan(&path).unwrap();
            assert_eq!(e.events, 3, "{name}");
            assert_eq!(e.valid_len, whole, "{name}");
            assert_eq!(
                e.at_last,
                HashSet::from(["b".to_owned(), "c".to_owned()]),
                "{name}"
            );
            let mut sink = Sink::open(&path, e.valid_len).unwrap();
            sink.write_page(&[&line("d", "2026-11-10T00:00:02.000Z")])
                .unwrap();
            drop(sink);
            assert_eq!(scan(&path).unwrap().events, 4, "{name}");
        }
    }
}
