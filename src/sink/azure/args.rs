//! The `--azure-...` options (also `[azure]` in `logferry.toml` and `LOGFERRY_AZURE_...`
//! variables) and their checks. A bad value is refused at start with the option's name, its
//! config-file key and the fix; the client secret is never printed, in `--help` or errors.
//!
//! The standard Azure identity variables (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`) are read when
//! the logferry option is not set, so a pod set up for workload identity needs no extra
//! configuration.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::auth::{Credential, Secret};
use super::concurrency::Bounds;
use super::{AzureSettings, TargetSpec};
use crate::table::Table;

pub const DEFAULT_SCOPE: &str = "https://monitor.azure.com//.default";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Azure (--sink azure; [azure] in the config file)")]
pub struct AzureArgs {
    /// Logs ingestion endpoint: the DCR's `logsIngestion` endpoint (kind Direct) or a data collection endpoint, e.g. https://my-dce-a1b2.eastus-1.ingest.monitor.azure.com. Plain http:// only to a loopback address (the emulator).
    #[arg(long, env = "LOGFERRY_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
    /// DCR immutable id(s): `dcr-…` for all three tables, or `TABLE=dcr-…` (TABLE: cloudtrail, guardduty, vpcflow), optionally `@ENDPOINT` for a DCR on another endpoint. Repeat for several DCRs per table: load is spread across them. The variable takes a comma-separated list.
    #[arg(long = "azure-dcr", env = "LOGFERRY_AZURE_DCR", value_delimiter = ',')]
    pub azure_dcr: Vec<String>,
    /// Input stream name per table, `TABLE=NAME`. Default: the streams of `logferry dcr` (Custom-LogferryAWSCloudTrail, Custom-LogferryAWSGuardDuty, Custom-LogferryAWSVPCFlow).
    #[arg(
        long = "azure-stream",
        env = "LOGFERRY_AZURE_STREAM",
        value_delimiter = ','
    )]
    pub azure_stream: Vec<String>,
    /// How to get tokens: client-secret, workload-identity, managed-identity, or auto (a secret if one is given, else the federated token file if one is given, else managed identity).
    #[arg(long, env = "LOGFERRY_AZURE_AUTH", default_value = "auto", value_parser = ["auto", "client-secret", "workload-identity", "managed-identity"])]
    pub azure_auth: String,
    /// Entra ID tenant (directory) id. Default: AZURE_TENANT_ID.
    #[arg(long, env = "LOGFERRY_AZURE_TENANT_ID")]
    pub azure_tenant_id: Option<String>,
    /// Application (client) id; for managed identity, a user-assigned identity's client id. Default: AZURE_CLIENT_ID.
    #[arg(long, env = "LOGFERRY_AZURE_CLIENT_ID")]
    pub azure_client_id: Option<String>,
    /// File holding the client secret (one line). The secret may instead be in LOGFERRY_AZURE_CLIENT_SECRET or AZURE_CLIENT_SECRET; it is never read from a flag or the config file, and never logged.
    #[arg(long, env = "LOGFERRY_AZURE_CLIENT_SECRET_FILE")]
    pub azure_client_secret_file: Option<PathBuf>,
    /// Federated token file for workload identity. Default: AZURE_FEDERATED_TOKEN_FILE.
    #[arg(long, env = "LOGFERRY_AZURE_FEDERATED_TOKEN_FILE")]
    pub azure_federated_token_file: Option<PathBuf>,
    /// Identity platform host. Default: AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com (use https://login.microsoftonline.us for US Government, https://login.chinacloudapi.cn for 21Vianet).
    #[arg(long, env = "LOGFERRY_AZURE_AUTHORITY")]
    pub azure_authority: Option<String>,
    /// Managed identity token endpoint (the instance metadata service).
    #[arg(long, env = "LOGFERRY_AZURE_IDENTITY_ENDPOINT", default_value = IMDS_ENDPOINT)]
    pub azure_identity_endpoint: String,
    /// Token scope: https://monitor.azure.com//.default (public cloud), https://monitor.azure.us//.default (US Government), https://monitor.azure.cn//.default (21Vianet).
    #[arg(long, env = "LOGFERRY_AZURE_SCOPE", default_value = DEFAULT_SCOPE)]
    pub azure_scope: String,
    /// Seconds before a Logs Ingestion call is abandoned (then retried).
    #[arg(long, env = "LOGFERRY_AZURE_TIMEOUT", default_value_t = 30)]
    pub azure_timeout: u64,
    /// Requests in flight per DCR target at start; adapts between 1 and --azure-max-concurrency (down on 429, errors and rising latency, up while healthy).
    #[arg(long, env = "LOGFERRY_AZURE_CONCURRENCY", default_value_t = 4)]
    pub azure_concurrency: u32,
    /// Most requests in flight per DCR target.
    #[arg(long, env = "LOGFERRY_AZURE_MAX_CONCURRENCY", default_value_t = 32)]
    pub azure_max_concurrency: u32,
    /// Seconds a request is retried on 5xx, timeouts and throttling before it is given up; its objects are then read again later (SQS) or the run fails (dir, s3).
    #[arg(long, env = "LOGFERRY_AZURE_RETRY_FOR", default_value_t = 600)]
    pub azure_retry_for: u64,
}

/// `--azure-x (azure.x in the config file)`: how errors name an option.
fn name(flag: &str) -> String {
    format!(
        "--azure-{flag} (azure.{flag} in the config file, LOGFERRY_AZURE_{})",
        flag.to_uppercase().replace('-', "_")
    )
}

fn env_nonempty(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Refuses plain HTTP except to a loopback address (the emulator) and, with `imds`, to the
/// link-local instance metadata service, which only speaks HTTP (never for the ingestion
/// endpoint or the authority: a bearer token or a secret would travel in clear).
pub fn check_url(what: &str, url: &str, imds: bool) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("{what}: '{url}' is not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback || (imds && host == "169.254.169.254") {
                Ok(())
            } else {
                bail!("{what}: '{url}' is plain http; use https:// (plain http is allowed only to a loopback address)")
            }
        }
        other => bail!("{what}: '{url}' has scheme {other}; use https://"),
    }
}

impl AzureArgs {
    pub fn settings(&self, gzip_level: u32) -> anyhow::Result<AzureSettings> {
        let targets = self.targets()?;
        let credential = self.credential()?;
        if !self.azure_scope.ends_with("/.default") {
            bail!(
                "{}: '{}' must end with /.default",
                name("scope"),
                self.azure_scope
            );
        }
        if self.azure_timeout == 0 {
            bail!("{}: must be at least 1 second", name("timeout"));
        }
        if self.azure_max_concurrency == 0 || self.azure_max_concurrency > 1024 {
            bail!("{}: must be 1-1024", name("max-concurrency"));
        }
        if self.azure_concurrency == 0 || self.azure_concurrency > self.azure_max_concurrency {
            bail!(
                "{}: must be between 1 and --azure-max-concurrency ({})",
                name("concurrency"),
                self.azure_max_concurrency
            );
        }
        Ok(AzureSettings {
            targets,
            credential,
            scope: self.azure_scope.clone(),
            timeout: Duration::from_secs(self.azure_timeout),
            concurrency: Bounds {
                initial: f64::from(self.azure_concurrency),
                max: f64::from(self.azure_max_concurrency),
            },
            retry_for: Duration::from_secs(self.azure_retry_for),
            gzip_level,
        })
    }

    fn targets(&self) -> anyhow::Result<Vec<TargetSpec>> {
        let mut streams: Vec<(Table, String)> = Vec::new();
        for s in &self.azure_stream {
            let (t, n) = s
                .split_once('=')
                .with_context(|| format!("{}: '{s}' must be TABLE=STREAM", name("stream")))?;
            let table = table(t, "stream")?;
            if !n.starts_with("Custom-") {
                bail!(
                    "{}: '{n}' is not an input stream name: input streams start with Custom- (logferry dcr shows them)",
                    name("stream")
                );
            }
            streams.push((table, n.to_string()));
        }
        let stream = |t: Table| {
            streams
                .iter()
                .rev()
                .find(|(x, _)| *x == t)
                .map_or_else(|| t.stream().to_string(), |(_, n)| n.clone())
        };
        if self.azure_dcr.is_empty() {
            bail!(
                "{}: no DCR given; set the immutable id of the DCR deployed from deploy/azure/dcr.json (dcr-…, on the DCR's JSON view in the portal, or the template's immutableId output)",
                name("dcr")
            );
        }
        let mut targets = Vec::new();
        for spec in &self.azure_dcr {
            let (tables, rest) = match spec.split_once('=') {
                Some((t, rest)) => (vec![table(t, "dcr")?], rest),
                None => (Table::ALL.to_vec(), spec.as_str()),
            };
            let (dcr, endpoint) = match rest.split_once('@') {
                Some((d, e)) => (d, Some(e.to_string())),
                None => (rest, None),
            };
            let dcr = dcr.trim();
            if dcr.is_empty() || !dcr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                bail!(
                    "{}: '{dcr}' is not a DCR immutable id (dcr- followed by 32 hex digits)",
                    name("dcr")
                );
            }
            let endpoint = match endpoint.or_else(|| self.azure_endpoint.clone()) {
                Some(e) => e,
                None => bail!(
                    "{}: no endpoint for DCR {dcr}: set --azure-endpoint (the DCR's logsIngestion endpoint) or write TABLE={dcr}@ENDPOINT",
                    name("endpoint")
                ),
            };
            check_url(&name("endpoint"), &endpoint, false)?;
            for t in tables {
                let spec = TargetSpec {
                    table: t,
                    endpoint: endpoint.trim_end_matches('/').to_string(),
                    dcr: dcr.to_string(),
                    stream: stream(t),
                };
                if targets.contains(&spec) {
                    bail!(
                        "{}: DCR {dcr} is given twice for {}",
                        name("dcr"),
                        t.short()
                    );
                }
                targets.push(spec);
            }
        }
        Ok(targets)
    }

    fn secret(&self) -> anyhow::Result<Option<Secret>> {
        if let Some(path) = &self.azure_client_secret_file {
            let s = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "{}: cannot read {}",
                    name("client-secret-file"),
                    path.display()
                )
            })?;
            let s = s.trim().to_string();
            if s.is_empty() {
                bail!(
                    "{}: {} is empty",
                    name("client-secret-file"),
                    path.display()
                );
            }
            return Ok(Some(Secret::new(s)));
        }
        Ok(env_nonempty("LOGFERRY_AZURE_CLIENT_SECRET")
            .or_else(|| env_nonempty("AZURE_CLIENT_SECRET"))
            .map(|s| Secret::new(s.trim().to_string())))
    }

    fn credential(&self) -> anyhow::Result<Credential> {
        let tenant = self
            .azure_tenant_id
            .clone()
            .or_else(|| env_nonempty("AZURE_TENANT_ID"));
        let client = self
            .azure_client_id
            .clone()
            .or_else(|| env_nonempty("AZURE_CLIENT_ID"));
        let token_file = self
            .azure_federated_token_file
            .clone()
            .or_else(|| env_nonempty("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from));
        let authority = self
            .azure_authority
            .clone()
            .or_else(|| env_nonempty("AZURE_AUTHORITY_HOST"))
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
        let secret = self.secret()?;
        let kind = match self.azure_auth.as_str() {
            "auto" if secret.is_some() => "client-secret",
            "auto" if token_file.is_some() => "workload-identity",
            "auto" => "managed-identity",
            k => k,
        };
        let need = |v: Option<String>, flag: &str, var: &str| {
            v.with_context(|| {
                format!(
                    "{}: required for {kind} authentication (or set {var})",
                    name(flag)
                )
            })
        };
        Ok(match kind {
            "client-secret" => {
                check_url(&name("authority"), &authority, false)?;
                Credential::ClientSecret {
                    tenant_id: need(tenant, "tenant-id", "AZURE_TENANT_ID")?,
                    client_id: need(client, "client-id", "AZURE_CLIENT_ID")?,
                    secret: secret.with_context(|| {
                        format!(
                            "{}: client-secret authentication needs the secret in a file, or in LOGFERRY_AZURE_CLIENT_SECRET or AZURE_CLIENT_SECRET",
                            name("client-secret-file")
                        )
                    })?,
                    authority,
                }
            }
            "workload-identity" => {
                check_url(&name("authority"), &authority, false)?;
                Credential::WorkloadIdentity {
                    tenant_id: need(tenant, "tenant-id", "AZURE_TENANT_ID")?,
                    client_id: need(client, "client-id", "AZURE_CLIENT_ID")?,
                    token_file: token_file.with_context(|| {
                        format!(
                            "{}: workload-identity authentication needs the federated token file (or AZURE_FEDERATED_TOKEN_FILE)",
                            name("federated-token-file")
                        )
                    })?,
                    authority,
                }
            }
            _ => {
                check_url(
                    &name("identity-endpoint"),
                    &self.azure_identity_endpoint,
                    true,
                )?;
                Credential::ManagedIdentity {
                    endpoint: self.azure_identity_endpoint.clone(),
                    client_id: client,
                }
            }
        })
    }
}

fn table(t: &str, flag: &str) -> anyhow::Result<Table> {
    Table::from_short(t.trim()).with_context(|| {
        format!(
            "{}: '{t}' is not a table: use cloudtrail, guardduty or vpcflow",
            name(flag)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> AzureArgs {
        AzureArgs {
            azure_endpoint: Some("https://x.eastus-1.ingest.monitor.azure.com".into()),
            azure_dcr: vec!["dcr-1".into()],
            azure_auth: "managed-identity".into(),
            azure_identity_endpoint: IMDS_ENDPOINT.into(),
            azure_scope: DEFAULT_SCOPE.into(),
            azure_timeout: 30,
            azure_concurrency: 4,
            azure_max_concurrency: 32,
            azure_retry_for: 600,
            ..AzureArgs::default()
        }
    }

    #[test]
    fn one_dcr_serves_every_table_and_more_can_be_added() {
        let mut a = args();
        a.azure_dcr = vec![
            "dcr-1".into(),
            "vpcflow=dcr-2@https://other.ingest.monitor.azure.com/".into(),
        ];
        a.azure_stream = vec!["guardduty=Custom-Mine".into()];
        let s = a.settings(1).unwrap();
        let got: Vec<(Table, &str, &str, &str)> = s
            .targets
            .iter()
            .map(|t| {
                (
                    t.table,
                    t.dcr.as_str(),
                    t.stream.as_str(),
                    t.endpoint.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Table::CloudTrail,
                    "dcr-1",
                    "Custom-LogferryAWSCloudTrail",
                    "https://x.eastus-1.ingest.monitor.azure.com"
                ),
                (
                    Table::GuardDuty,
                    "dcr-1",
                    "Custom-Mine",
                    "https://x.eastus-1.ingest.monitor.azure.com"
                ),
                (
                    Table::VpcFlow,
                    "dcr-1",
                    "Custom-LogferryAWSVPCFlow",
                    "https://x.eastus-1.ingest.monitor.azure.com"
                ),
                (
                    Table::VpcFlow,
                    "dcr-2",
                    "Custom-LogferryAWSVPCFlow",
                    "https://other.ingest.monitor.azure.com"
                ),
            ]
        );
    }

    #[test]
    fn bad_settings_name_the_option() {
        let err = |f: &dyn Fn(&mut AzureArgs)| {
            let mut a = args();
            f(&mut a);
            format!("{:#}", a.settings(1).unwrap_err())
        };
        assert!(err(&|a| a.azure_dcr.clear()).contains("--azure-dcr"));
        assert!(err(&|a| a.azure_dcr = vec!["s3=dcr-1".into()]).contains("'s3' is not a table"));
        assert!(
            err(&|a| a.azure_endpoint = Some("http://example.com".into())).contains("plain http")
        );
        assert!(err(&|a| a.azure_endpoint = None).contains("--azure-endpoint"));
        assert!(err(&|a| {
            a.azure_auth = "client-secret".into();
            a.azure_tenant_id = Some("t".into());
            a.azure_client_id = Some("c".into());
            a.azure_client_secret_file = Some("/nonexistent/secret".into());
        })
        .contains("--azure-client-secret-file"));
        // Loopback is fine over http (the emulator).
        let mut a = args();
        a.azure_endpoint = Some("http://127.0.0.1:8089".into());
        assert!(a.settings(1).is_ok());
    }
}
