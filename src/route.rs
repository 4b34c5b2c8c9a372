//! Routing: the object key decides the table, not the queue or the bucket.
//!
//! AWS writes `[prefix/]AWSLogs/[o-orgid/]<account>/<Service>/<region>/...` for all three
//! sources (VPC also in a Hive-style layout, `aws-service=vpcflowlogs`). Everything else that
//! lands in such buckets (digests, Insights, Config snapshots, test objects, folder markers) is
//! skipped with a named reason. Operators with their own layout add rules, checked first, in
//! order: a key prefix, or a regex when the rule starts with `^`.

use regex::Regex;

use crate::table::Table;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Table(Table),
    Skip(&'static str),
}

#[derive(Debug, Clone)]
enum Matcher {
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub struct Rule {
    matcher: Matcher,
    route: Route,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("route rule '{0}' has no '=TYPE' (expected PREFIX=TYPE or ^REGEX=TYPE)")]
    NoType(String),
    #[error("route rule '{rule}': unknown type '{ty}' (expected cloudtrail, guardduty, vpcflow or skip)")]
    UnknownType { rule: String, ty: String },
    #[error("route rule '{rule}': invalid regex: {err}")]
    Regex { rule: String, err: regex::Error },
}

impl std::str::FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, RuleError> {
        let (pattern, ty) = s
            .rsplit_once('=')
            .ok_or_else(|| RuleError::NoType(s.into()))?;
        let route = match ty {
            "skip" => Route::Skip("route_rule"),
            _ => Route::Table(Table::from_short(ty).ok_or_else(|| RuleError::UnknownType {
                rule: s.into(),
                ty: ty.into(),
            })?),
        };
        let matcher = if pattern.starts_with('^') {
            Matcher::Regex(Regex::new(pattern).map_err(|err| RuleError::Regex {
                rule: s.into(),
                err,
            })?)
        } else {
            Matcher::Prefix(pattern.to_string())
        };
        Ok(Rule { matcher, route })
    }
}

/// Decides each key's route: operator rules, then a pinned type, then the AWS layout.
#[derive(Debug, Clone, Default)]
pub struct Router {
    pub rules: Vec<Rule>,
    /// Every object of this source is of this type (folder markers are still skipped).
    pub pinned: Option<Table>,
}

impl Router {
    pub fn route(&self, key: &str) -> Route {
        if key.is_empty() || key.ends_with('/') {
            return Route::Skip("folder_marker");
        }
        for r in &self.rules {
            let hit = match &r.matcher {
                Matcher::Prefix(p) => key.starts_with(p.as_str()),
                Matcher::Regex(re) => re.is_match(key),
            };
            if hit {
                return r.route.clone();
            }
        }
        if let Some(t) = self.pinned {
            return Route::Table(t);
        }
        route_aws_key(key)
    }
}

/// The AWS layout alone.
pub fn route_aws_key(key: &str) -> Route {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name == "ELBAccessLogTestFile"
        || name == "macie-test-object"
        || name == "ConfigWritabilityCheckFile"
    {
        return Route::Skip("test_object");
    }
    let mut segs = key.split('/');
    if !segs.any(|s| s == "AWSLogs") {
        return Route::Skip("unknown_layout");
    }
    // After AWSLogs/: optional organization id, the account, then the service.
    let mut rest: Vec<&str> = segs.collect();
    if rest.first().is_some_and(|s| s.starts_with("o-")) {
        rest.remove(0);
    }
    let service = match rest.as_slice() {
        [acct, service, ..] if acct.starts_with("aws-account-id=") => {
            service.strip_prefix("aws-service=").unwrap_or(*service)
        }
        [_acct, service, _, ..] => *service,
        _ => return Route::Skip("unknown_layout"),
    };
    match service {
        "CloudTrail" => Route::Table(Table::CloudTrail),
        "CloudTrail-Digest" => Route::Skip("digest"),
        "CloudTrail-Insight" => Route::Skip("insight"),
        "vpcflowlogs" => Route::Table(Table::VpcFlow),
        "GuardDuty" => Route::Table(Table::GuardDuty),
        "Config" => Route::Skip("config"),
        _ => Route::Skip("unknown_service"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(key: &str) -> Route {
        Router::default().route(key)
    }
    const CT: Route = Route::Table(Table::CloudTrail);
    const VPC: Route = Route::Table(Table::VpcFlow);
    const GD: Route = Route::Table(Table::GuardDuty);

    #[test]
    fn aws_layouts() {
        assert_eq!(r("AWSLogs/111111111111/CloudTrail/eu-west-2/2022/02/21/111111111111_CloudTrail_eu-west-2_20220221T1020Z_nTGkKkyO0OcwEIvv.json.gz"), CT);
        assert_eq!(r("o-fxozgwu6rc/AWSLogs/o-fxozgwu6rc/123456789016/CloudTrail/ca-central-1/2020/08/30/x.json.gz"), CT);
        assert_eq!(r("o-fxozgwu6rc/AWSLogs/o-fxozgwu6rc/123456789016/CloudTrail-Digest/ca-central-1/2020/08/30/x.json.gz"), Route::Skip("digest"));
        assert_eq!(r("o-fxozgwu6rc/AWSLogs/o-fxozgwu6rc/123456789015/CloudTrail-Insight/ca-central-1/2020/09/23/x.json.gz"), Route::Skip("insight"));
        assert_eq!(r("123456789012/Test-East-lcl/AWSLogs/123456789012/vpcflowlogs/us-east-1/2020/08/31/x.log.gz"), VPC);
        assert_eq!(
            r("AWSLogs/xxxxxxxxxxxx/vpcflowlogs/us-east-1/2025/02/12/10/x.log.gz"),
            VPC
        );
        assert_eq!(r("p/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=01/day=02/hour=03/x.log.gz"), VPC);
        assert_eq!(r("AWSLogs/123456789014/GuardDuty/ca-central-1/2020/09/02/294c9171-4867-3774-9756-f6f6c209616f.jsonl.gz"), GD);
        assert_eq!(
            r("123456789012/elb-Core-mydevacct1-alb/AWSLogs/123456789012/ELBAccessLogTestFile"),
            Route::Skip("test_object")
        );
        assert_eq!(
            r("123456789014/macie-test-object"),
            Route::Skip("test_object")
        );
        assert_eq!(
            r("AWSLogs/123456789016/Config/ca-central-1/2020/8/31/ConfigHistory/x.json.gz"),
            Route::Skip("config")
        );
        assert_eq!(
            r("AWSLogs/123456789016/CloudTrail/"),
            Route::Skip("folder_marker")
        );
        assert_eq!(r("random/file.json"), Route::Skip("unknown_layout"));
        assert_eq!(
            r("AWSLogs/123/elasticloadbalancing/x/y"),
            Route::Skip("unknown_service")
        );
    }

    #[test]
    fn rules_come_first() {
        let router = Router {
            rules: vec![
                "custom/ct/=cloudtrail".parse().unwrap(),
                r"^.*\.vpc\.log$=vpcflow".parse().unwrap(),
                "AWSLogs/1/CloudTrail/=skip".parse().unwrap(),
            ],
            pinned: None,
        };
        assert_eq!(router.route("custom/ct/a.json"), CT);
        assert_eq!(router.route("x/y.vpc.log"), VPC);
        assert_eq!(
            router.route("AWSLogs/1/CloudTrail/r/a.json"),
            Route::Skip("route_rule")
        );
        assert!("abc".parse::<Rule>().is_err());
        assert!("a=nope".parse::<Rule>().is_err());
        assert!("^(=vpcflow".parse::<Rule>().is_err());
        let pinned = Router {
            rules: vec![],
            pinned: Some(Table::GuardDuty),
        };
        assert_eq!(pinned.route("anything.json"), GD);
    }
}
