//! `logferry dcr`: prints the data collection rule (an ARM template) for the tables.

use clap::Args;

use super::{Failure, Outcome};
use crate::table::Table;

#[derive(Args)]
pub struct DcrArgs {
    /// Only this table (cloudtrail, guardduty or vpcflow). Default: all three in one DCR.
    #[arg(long = "table")]
    pub table: Option<String>,
}

pub fn dcr(args: &DcrArgs) -> Result<Outcome, Failure> {
    let tables = match &args.table {
        None => Table::ALL.to_vec(),
        Some(t) => vec![Table::from_short(t).ok_or_else(|| {
            Failure::Usage(anyhow::anyhow!(
                "--table {t}: expected cloudtrail, guardduty or vpcflow"
            ))
        })?],
    };
    print!("{}", crate::sink::azure::dcr::render(&tables));
    Ok(Outcome::Success)
}
