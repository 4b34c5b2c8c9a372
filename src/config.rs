//! `--config logferry.toml`: every key of the file is a command-line option, so there is one
//! list of settings (clap's), one `--help`, and one precedence: a flag beats its
//! `LOGFERRY_...` variable, which beats the file, which beats the built-in default.
//!
//! The file's values become the options' defaults before the command line is parsed, which is
//! exactly that precedence. Keys are option names without the dashes: top-level keys are the
//! `run` options as they are (`source`, `threads`, `region`, `receivers`), keys in `[azure]`
//! are the `--azure-...` options without the prefix (`endpoint`, `dcr`, `tenant-id`), keys in
//! `[aws]` are the AWS options as they are. `_` and `-` are the same. An unknown key is an
//! error naming it, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Finds `--config FILE` (or `--config=FILE`, or `LOGFERRY_CONFIG`) before clap parses.
pub fn config_path(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("LOGFERRY_CONFIG").map(PathBuf::from)
}

/// `cmd` with the settings of `--config FILE` (when the command line or `LOGFERRY_CONFIG` names
/// one) as the defaults of its `run` and `replay` subcommands (replay ignores the keys it has
/// no option for). Other subcommands never read the file, so `LOGFERRY_CONFIG` cannot break
/// `logferry dcr`.
pub fn with_config_file(
    mut cmd: clap::Command,
    argv: &[std::ffi::OsString],
) -> anyhow::Result<clap::Command> {
    let sub = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| cmd.find_subcommand(a.as_ref()).is_some());
    if !matches!(sub.as_deref(), Some("run" | "replay")) {
        return Ok(cmd);
    }
    let Some(path) = config_path(argv) else {
        return Ok(cmd);
    };
    let mut settings = read(&path)?;
    // The one global option is set on the top-level command.
    if let Some(pos) = settings.iter().position(|s| s.long == "log-format") {
        let s = settings.remove(pos);
        let v = s.values.first().cloned().unwrap_or_default();
        cmd = cmd.mut_arg("log_format", |a| a.default_value(v));
    }
    for (name, lenient) in [("run", false), ("replay", true)] {
        let sub = cmd
            .find_subcommand(name)
            .cloned()
            .with_context(|| format!("no {name} command"))?;
        let sub = apply(sub, &settings, lenient)
            .with_context(|| format!("--config {}", path.display()))?;
        cmd = cmd.mut_subcommand(name, |_| sub);
    }
    Ok(cmd)
}

/// One setting from the file: the option's long name and its value(s) as text.
#[derive(Debug, PartialEq)]
pub struct Setting {
    /// Where it is in the file, for errors (`azure.endpoint`).
    pub key: String,
    pub long: String,
    pub values: Vec<String>,
}

fn scalar(key: &str, v: &toml::Value) -> anyhow::Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("{key}: expected a string, number or boolean"),
    })
}

/// Reads the settings of a config file.
pub fn read(path: &Path) -> anyhow::Result<Vec<Setting>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config {}: cannot read it", path.display()))?;
    parse(&text).with_context(|| format!("--config {}", path.display()))
}

pub fn parse(text: &str) -> anyhow::Result<Vec<Setting>> {
    let table: toml::Table = text.parse().context("not valid TOML")?;
    let mut out = Vec::new();
    for (k, v) in &table {
        match (k.as_str(), v) {
            ("azure", toml::Value::Table(t)) => {
                for (k2, v2) in t {
                    let long = format!("azure-{}", k2.replace('_', "-"));
                    out.push(setting(&format!("azure.{k2}"), long, v2)?);
                }
            }
            ("aws", toml::Value::Table(t)) => {
                for (k2, v2) in t {
                    out.push(setting(&format!("aws.{k2}"), k2.replace('_', "-"), v2)?);
                }
            }
            (_, toml::Value::Table(_)) => {
                bail!("[{k}] is not a section logferry knows: use top-level keys, [aws] or [azure]")
            }
            _ => out.push(setting(k, k.replace('_', "-"), v)?),
        }
    }
    Ok(out)
}

fn setting(key: &str, long: String, v: &toml::Value) -> anyhow::Result<Setting> {
    let values = match v {
        toml::Value::Array(a) => a
            .iter()
            .map(|x| scalar(key, x))
            .collect::<anyhow::Result<_>>()?,
        _ => vec![scalar(key, v)?],
    };
    Ok(Setting {
        key: key.to_string(),
        long,
        values,
    })
}

/// Makes the settings the defaults of `cmd`'s options. Errors name the key. `lenient`: skip
/// settings `cmd` has no option for (a command that uses part of the file, like `replay`).
pub fn apply(
    mut cmd: clap::Command,
    settings: &[Setting],
    lenient: bool,
) -> anyhow::Result<clap::Command> {
    for s in settings {
        if s.long == "config" {
            bail!("{}: a config file cannot name another", s.key);
        }
        if s.long == "azure-client-secret" {
            bail!(
                "{}: secrets are not read from the config file; put it in a file named by azure.client-secret-file, or in LOGFERRY_AZURE_CLIENT_SECRET",
                s.key
            );
        }
        let Some(id) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(s.long.as_str()))
            .map(|a| a.get_id().clone())
        else {
            if lenient {
                continue;
            }
            bail!(
                "{}: unknown setting (no option --{}; see `logferry {} --help`)",
                s.key,
                s.long,
                cmd.get_name()
            );
        };
        let values: Vec<clap::builder::OsStr> = s
            .values
            .iter()
            .map(|v| clap::builder::Str::from(v.clone()).into())
            .collect();
        // A required option the file sets is no longer required on the command line.
        cmd = cmd.mut_arg(id, |a| a.default_values(values).required(false));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_option_names() {
        let s = parse(
            r#"
source = "sqs:https://sqs.eu-west-1.amazonaws.com/1/q"
threads = 4
[aws]
receivers = 8
[azure]
endpoint = "https://x.ingest.monitor.azure.com"
dcr = ["cloudtrail=dcr-1", "vpcflow=dcr-2"]
tenant_id = "t"
"#,
        )
        .unwrap();
        let got: Vec<(&str, &str, Vec<&str>)> = s
            .iter()
            .map(|s| {
                (
                    s.key.as_str(),
                    s.long.as_str(),
                    s.values.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert!(got.contains(&(
            "source",
            "source",
            vec!["sqs:https://sqs.eu-west-1.amazonaws.com/1/q"]
        )));
        assert!(got.contains(&("threads", "threads", vec!["4"])));
        assert!(got.contains(&("aws.receivers", "receivers", vec!["8"])));
        assert!(got.contains(&(
            "azure.dcr",
            "azure-dcr",
            vec!["cloudtrail=dcr-1", "vpcflow=dcr-2"]
        )));
        assert!(got.contains(&("azure.tenant_id", "azure-tenant-id", vec!["t"])));
        assert!(parse("[s3]\nx = 1").is_err());
        assert!(parse("x = {a = 1}").is_err());
    }

    #[test]
    fn finds_the_config_flag() {
        let a = |v: &[&str]| {
            v.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            config_path(&a(&["logferry", "run", "--config", "x.toml"])),
            Some(PathBuf::from("x.toml"))
        );
        assert_eq!(
            config_path(&a(&["logferry", "run", "--config=y.toml"])),
            Some(PathBuf::from("y.toml"))
        );
    }
}
