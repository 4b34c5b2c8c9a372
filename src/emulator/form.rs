//! `application/x-www-form-urlencoded` pairs, for token request bodies and query strings
//! (WHATWG URL standard, "application/x-www-form-urlencoded parsing": `+` is a space, then
//! percent-decoding). Malformed escapes and bad UTF-8 are replaced, never an error: the caller
//! checks the values it needs and names what is wrong.

use percent_encoding::percent_decode;

/// The name/value pairs, in order; a name without `=` has an empty value.
pub fn pairs(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &p[p.len()..]),
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// The first value of `name`.
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn decode(part: &[u8]) -> String {
    let spaced: Vec<u8> = part
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let p = pairs(b"scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default&a=b+c&flag&=x&bad=%zz");
        assert_eq!(
            get(&p, "scope"),
            Some("https://monitor.azure.com//.default")
        );
        assert_eq!(get(&p, "a"), Some("b c"));
        assert_eq!(get(&p, "flag"), Some(""));
        assert_eq!(get(&p, "bad"), Some("%zz"));
        assert_eq!(get(&p, "missing"), None);
    }
}
