//! Decompression chosen by the object's first bytes, never by its name or `Content-Encoding`
//! (SDKs and S3 metadata get both wrong for AWS logs). gzip is read with a multi-member
//! decoder: a plain one stops silently after the first member.

use std::io::{self, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Zstd,
    Parquet,
    Plain,
}

impl Encoding {
    pub fn sniff(head: &[u8]) -> Encoding {
        if head.starts_with(&[0x1f, 0x8b]) {
            Encoding::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Encoding::Zstd
        } else if head.starts_with(b"PAR1") {
            Encoding::Parquet
        } else {
            Encoding::Plain
        }
    }
}

type Peeked<R> = Chain<Cursor<Vec<u8>>, R>;

/// A decompressing reader over an object.
pub enum Decoder<R: Read> {
    Gzip(Box<MultiGzDecoder<Peeked<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, io::BufReader<Peeked<R>>>>),
    Plain(Peeked<R>),
}

/// Reads the first bytes of `reader` to choose the decoder. Returns the encoding and, except
/// for Parquet (which is not streamed), the reader of the decompressed bytes.
pub fn open<R: Read>(mut reader: R) -> io::Result<(Encoding, Option<Decoder<R>>)> {
    let mut head = Vec::with_capacity(4);
    // A reader may return fewer bytes than asked; keep reading until 4 bytes or the end.
    while head.len() < 4 {
        let mut buf = [0u8; 4];
        let want = 4 - head.len();
        let n = match reader.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let enc = Encoding::sniff(&head);
    let peeked = Cursor::new(head).chain(reader);
    let dec = match enc {
        Encoding::Gzip => Some(Decoder::Gzip(Box::new(MultiGzDecoder::new(peeked)))),
        Encoding::Zstd => Some(Decoder::Zstd(Box::new(zstd::stream::read::Decoder::new(
            peeked,
        )?))),
        Encoding::Plain => Some(Decoder::Plain(peeked)),
        Encoding::Parquet => None,
    };
    Ok((enc, dec))
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Plain(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> (Encoding, io::Result<Vec<u8>>) {
        let (enc, dec) = open(bytes).unwrap();
        let mut out = Vec::new();
        let r = match dec {
            Some(mut d) => d.read_to_end(&mut out).map(|_| out),
            None => Ok(out),
        };
        (enc, r)
    }

    #[test]
    fn sniffs_and_reads_every_encoding() {
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        assert_eq!(read_all(&two).1.unwrap(), b"hello world");
        let z = zstd::encode_all(&b"zstd data"[..], 1).unwrap();
        let (enc, data) = read_all(&z);
        assert_eq!(enc, Encoding::Zstd);
        assert_eq!(data.unwrap(), b"zstd data");
        assert_eq!(read_all(b"ab").1.unwrap(), b"ab");
        assert_eq!(read_all(b"").1.unwrap(), b"");
        assert_eq!(read_all(b"PAR1xxxx").0, Encoding::Parquet);
    }

    #[test]
    fn corrupt_and_truncated_gzip_are_errors() {
        let g = gz(&b"x".repeat(10_000));
        assert!(read_all(&g[..g.len() / 2]).1.is_err());
        let mut bad = g.clone();
        bad[15] ^= 0xff;
        bad[20] ^= 0xff;
        assert!(read_all(&bad).1.is_err());
    }
}
