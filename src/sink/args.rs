//! What `--sink` names, parsed once by clap so the rest of the program matches on a type.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::bail;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// `dir:OUT`: request bodies written as files, exactly as the Azure sink would send them.
    Dir(PathBuf),
    /// `azure`: the Azure Monitor Logs Ingestion API (the `--azure-...` options).
    Azure,
}

impl FromStr for SinkSpec {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<Self> {
        match value.split_once(':') {
            _ if value == "azure" => Ok(SinkSpec::Azure),
            Some(("dir", out)) if !out.is_empty() => Ok(SinkSpec::Dir(PathBuf::from(out))),
            _ => bail!("not understood: --sink takes azure or dir:OUT"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_specs() {
        assert_eq!("azure".parse::<SinkSpec>().unwrap(), SinkSpec::Azure);
        assert_eq!(
            "dir:out".parse::<SinkSpec>().unwrap(),
            SinkSpec::Dir(PathBuf::from("out"))
        );
        for bad in ["dir:", "azure:x", "s3:bucket", "out"] {
            let e = bad.parse::<SinkSpec>().unwrap_err().to_string();
            assert!(e.contains("azure or dir:OUT"), "{bad}: {e}");
        }
    }
}
