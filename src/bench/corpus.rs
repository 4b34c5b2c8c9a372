//! A realistic corpus, generated in memory and deterministic (same seed, same bytes), so that
//! benchmark figures are comparable across runs and machines.
//!
//! CloudTrail: management events by assumed roles (session context, MFA, TLS details, long SDK
//! user agents), S3 data events (resources, additionalEventData), security-group changes
//! (ipPermissions), request parameters of varying size. VPC: the default v2 format and a custom
//! v5 format. GuardDuty: findings with nested resource and service objects.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::table::Table;

/// xorshift64*: a tiny deterministic generator; statistical quality is irrelevant here.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn upper(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[self.below(32) as usize]))
            .collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
    fn ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            1 + self.below(223),
            self.below(256),
            self.below(256),
            1 + self.below(254)
        )
    }
    fn time(&mut self) -> String {
        format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}Z",
            1 + self.below(28),
            self.below(24),
            self.below(60),
            self.below(60)
        )
    }
}

const USER_AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/5.10.210-201.852.amzn2.x86_64 exe/x86_64.amzn.2 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.15.0-1057-aws md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.4 ft/s3-transfer",
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.655 Linux/5.10.209-175.858.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]",
    "console.amazonaws.com",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
];

fn identity(r: &mut Rng, acct: &str) -> String {
    let role = r.pick(&[
        "Admin",
        "ReadOnly",
        "ci-deployer",
        "lambda-exec-role",
        "eks-node-group",
    ]);
    let session = r.upper(8).to_lowercase();
    let pid = format!("AROA{}", r.upper(17));
    format!(
        r#"{{"type":"AssumedRole","principalId":"{pid}:{session}","arn":"arn:aws:sts::{acct}:assumed-role/{role}/{session}","accountId":"{acct}","accessKeyId":"ASIA{}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"{pid}","arn":"arn:aws:iam::{acct}:role/{role}","accountId":"{acct}","userName":"{role}"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"{}","mfaAuthenticated":"{}"}}{}}}}}"#,
        r.upper(16),
        r.time(),
        if r.below(4) == 0 { "true" } else { "false" },
        if r.below(3) == 0 {
            r#","ec2RoleDelivery":"2.0""#
        } else {
            ""
        },
    )
}

fn cloudtrail_record(r: &mut Rng, out: &mut String) {
    let acct = format!("{:012}", 100_000_000_000 + r.below(20));
    let region = r.pick(&["us-east-1", "eu-west-1", "eu-west-2", "ap-southeast-2"]);
    let ident = identity(r, &acct);
    let ua = r.pick(USER_AGENTS);
    let tls = format!(
        r#","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{}.{region}.amazonaws.com"}}"#,
        r.pick(&["ec2", "s3", "sts", "iam", "kms"])
    );
    let common = format!(
        r#""eventVersion":"1.09","userIdentity":{ident},"eventTime":"{}","awsRegion":"{region}","sourceIPAddress":"{}","userAgent":"{ua}""#,
        r.time(),
        r.ip()
    );
    let tail = format!(
        r#","requestID":"{}","eventID":"{}","eventType":"AwsApiCall","recipientAccountId":"{acct}""#,
        r.uuid(),
        r.uuid()
    );
    match r.below(10) {
        // S3 data events dominate busy trails.
        0..=4 => {
            let bucket = format!("logs-{}", r.hex(6));
            let key = format!("data/{}/{}.parquet", r.hex(8), r.hex(16));
            let (name, ro) = if r.below(3) == 0 {
                ("PutObject", "false")
            } else {
                ("GetObject", "true")
            };
            let _ = write!(
                out,
                r#"{{{common},"eventSource":"s3.amazonaws.com","eventName":"{name}","requestParameters":{{"bucketName":"{bucket}","Host":"{bucket}.s3.{region}.amazonaws.com","key":"{key}","x-id":"{name}"}},"responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"{}","bytesTransferredOut":{}}}{tail},"readOnly":{ro},"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::{bucket}/{key}"}},{{"accountId":"{acct}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{bucket}"}}],"managementEvent":false,"eventCategory":"Data"{tls}}}"#,
                r.upper(40),
                r.below(10_000_000),
            );
        }
        5 => {
            let port = 1 + r.below(65534);
            let _ = write!(
                out,
                r#"{{{common},"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{{"groupId":"sg-{}","ipPermissions":{{"items":[{{"ipProtocol":"tcp","fromPort":{port},"toPort":{port},"groups":{{}},"ipRanges":{{"items":[{{"cidrIp":"{}/32"}}]}},"ipv6Ranges":{{}},"prefixListIds":{{}}}}]}}}},"responseElements":{{"requestId":"{}","_return":true}}{tail},"readOnly":false,"managementEvent":true,"eventCategory":"Management"{tls}}}"#,
                r.hex(17),
                r.ip(),
                r.uuid(),
            );
        }
        _ => {
            // Management calls with request parameters of varying size.
            let n = r.below(12);
            let mut items = String::new();
            for i in 0..n {
                if i > 0 {
                    items.push(',');
                }
                let _ = write!(items, r#"{{"instanceId":"i-{}"}}"#, r.hex(17));
            }
            let name = r.pick(&[
                "DescribeInstances",
                "StopInstances",
                "StartInstances",
                "DescribeVolumes",
            ]);
            let response = if name.starts_with("Describe") {
                "null".to_string()
            } else {
                format!(
                    r#"{{"requestId":"{}","instancesSet":{{"items":[{items}]}}}}"#,
                    r.uuid()
                )
            };
            let _ = write!(
                out,
                r#"{{{common},"eventSource":"ec2.amazonaws.com","eventName":"{name}","requestParameters":{{"instancesSet":{{"items":[{items}]}},"filterSet":{{}},"maxResults":1000}},"responseElements":{response}{tail},"readOnly":{},"managementEvent":true,"eventCategory":"Management"{tls}}}"#,
                name.starts_with("Describe"),
            );
        }
    }
}

const VPC_V5_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";
const VPC_V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

fn vpc_line(r: &mut Rng, v5: bool, start: u64, out: &mut String) {
    let acct = format!("{:012}", 100_000_000_000 + r.below(20));
    let eni = format!("eni-{}", r.hex(17));
    if r.below(50) == 0 {
        let _ = write!(
            out,
            "2 {acct} {eni} - - - - - - - {start} {} - NODATA",
            start + 60
        );
    } else {
        let _ = write!(
            out,
            "{} {acct} {eni} {} {} {} {} {} {} {} {start} {} {} OK",
            if v5 { 5 } else { 2 },
            r.ip(),
            r.ip(),
            r.below(65536),
            r.pick(&["443", "80", "22", "53", "3389", "8080"]),
            r.pick(&["6", "17", "1"]),
            1 + r.below(5000),
            40 + r.below(5_000_000),
            start + 60,
            r.pick(&["ACCEPT", "ACCEPT", "ACCEPT", "REJECT"]),
        );
    }
    if v5 {
        let _ = write!(
            out,
            " vpc-{} subnet-{} i-{} {} IPv4 {} {} eu-west-1 euw1-az{} - - {} - {} {}",
            r.hex(17),
            r.hex(17),
            r.hex(17),
            r.pick(&["2", "18", "19", "3", "0"]),
            r.ip(),
            r.ip(),
            1 + r.below(3),
            r.pick(&["-", "S3", "AMAZON", "EC2"]),
            r.pick(&["ingress", "egress"]),
            r.pick(&["-", "1", "2", "8"]),
        );
    }
    out.push('\n');
}

fn guardduty_finding(r: &mut Rng, out: &mut String) {
    let acct = format!("{:012}", 100_000_000_000 + r.below(20));
    let region = r.pick(&["us-east-1", "eu-west-1"]);
    let det = r.hex(32);
    let id = r.hex(32);
    let ty = r.pick(&[
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Recon:EC2/PortProbeUnprotectedPort",
        "Trojan:EC2/DNSDataExfiltration",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    ]);
    let sev = r.pick(&["2", "5", "5.3", "8", "8.9", "2.0"]);
    let _ = write!(
        out,
        r#"{{"schemaVersion":"2.0","accountId":"{acct}","region":"{region}","partition":"aws","id":"{id}","arn":"arn:aws:guardduty:{region}:{acct}:detector/{det}/finding/{id}","type":"{ty}","resource":{{"resourceType":"Instance","instanceDetails":{{"instanceId":"i-{}","instanceType":"t3.large","launchTime":"{}","platform":null,"productCodes":[],"iamInstanceProfile":{{"arn":"arn:aws:iam::{acct}:instance-profile/web","id":"AIPA{}"}},"networkInterfaces":[{{"ipv6Addresses":[],"networkInterfaceId":"eni-{}","privateDnsName":"ip-10-0-0-{}.ec2.internal","privateIpAddress":"10.0.0.{}","privateIpAddresses":[{{"privateDnsName":"ip-10-0-0-1.ec2.internal","privateIpAddress":"10.0.0.1"}}],"subnetId":"subnet-{}","vpcId":"vpc-{}","securityGroups":[{{"groupName":"web","groupId":"sg-{}"}}],"publicDnsName":"ec2-{}.compute-1.amazonaws.com","publicIp":"{}"}}],"outpostArn":null,"tags":[{{"key":"Name","value":"web-{}"}},{{"key":"env","value":"prod"}}],"instanceState":"running","availabilityZone":"{region}a","imageId":"ami-{}","imageDescription":"Amazon Linux 2023 AMI"}}}},"service":{{"serviceName":"guardduty","detectorId":"{det}","action":{{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{{"connectionDirection":"INBOUND","remoteIpDetails":{{"ipAddressV4":"{}","organization":{{"asn":"{}","asnOrg":"Example Hosting","isp":"Example ISP","org":"Example"}},"country":{{"countryName":"Netherlands"}},"city":{{"cityName":"Amsterdam"}},"geoLocation":{{"lat":52.37,"lon":4.89}}}},"remotePortDetails":{{"port":{},"portName":"Unknown"}},"localPortDetails":{{"port":22,"portName":"SSH"}},"protocol":"TCP","blocked":false,"localIpDetails":{{"ipAddressV4":"10.0.0.1"}}}}}},"resourceRole":"TARGET","additionalInfo":{{"value":"{{\"unusualProtocol\":\"UDP\"}}","type":"default"}},"evidence":null,"eventFirstSeen":"{}","eventLastSeen":"{}","archived":false,"count":{},"featureName":"FlowLogs"}},"severity":{sev},"createdAt":"{}","updatedAt":"{}","title":"{ty} finding on i-{}.","description":"{ty}: an EC2 instance is the target of activity from a remote host. Investigate the instance and the remote address {}."}}"#,
        r.hex(17),
        r.time(),
        r.upper(17),
        r.hex(17),
        r.below(255),
        r.below(255),
        r.hex(17),
        r.hex(17),
        r.hex(17),
        r.below(1000),
        r.ip(),
        r.below(100),
        r.hex(17),
        r.ip(),
        r.below(65000),
        r.below(65536),
        r.time(),
        r.time(),
        1 + r.below(500),
        r.time(),
        r.time(),
        r.hex(17),
        r.ip(),
    );
}

/// One generated object: its key, its gzip bytes (what S3 holds), its record count.
pub struct Object {
    pub key: String,
    pub gz: Vec<u8>,
    pub plain_len: usize,
    pub records: usize,
}

pub struct Corpus {
    pub table: Table,
    pub objects: Vec<Object>,
}

impl Corpus {
    pub fn records(&self) -> usize {
        self.objects.iter().map(|o| o.records).sum()
    }
    pub fn plain_bytes(&self) -> usize {
        self.objects.iter().map(|o| o.plain_len).sum()
    }
    pub fn gz_bytes(&self) -> usize {
        self.objects.iter().map(|o| o.gz.len()).sum()
    }

    /// Every object decompressed.
    pub fn decoded(&self) -> Vec<Vec<u8>> {
        self.objects
            .iter()
            .map(|o| {
                let mut v = Vec::with_capacity(o.plain_len);
                super::gunzip_into(&o.gz, &mut v);
                v
            })
            .collect()
    }
}

fn gz6(data: &[u8]) -> Vec<u8> {
    // AWS writes its logs with an ordinary gzip level; 6 is zlib's default.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Generates about `records` records of `table`, in objects of a realistic size.
pub fn generate(table: Table, records: usize, seed: u64) -> Corpus {
    let mut r = Rng::new(seed ^ ((table as u64 + 1) * 0x9E37_79B9));
    let per_object = match table {
        Table::CloudTrail => 1000,
        Table::GuardDuty => 250,
        Table::VpcFlow => 10_000,
    };
    let mut objects = Vec::new();
    let mut left = records;
    let mut n = 0;
    while left > 0 {
        let count = left.min(per_object);
        left -= count;
        n += 1;
        let mut s = String::new();
        let key = match table {
            Table::CloudTrail => {
                s.push_str(r#"{"Records":["#);
                for i in 0..count {
                    if i > 0 {
                        s.push(',');
                    }
                    cloudtrail_record(&mut r, &mut s);
                }
                s.push_str("]}");
                format!("AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/24/123456789012_CloudTrail_eu-west-1_20261124T1200Z_{n:016}.json.gz")
            }
            Table::GuardDuty => {
                for _ in 0..count {
                    guardduty_finding(&mut r, &mut s);
                    s.push('\n');
                }
                format!(
                    "AWSLogs/123456789012/GuardDuty/eu-west-1/2026/11/24/{}.jsonl.gz",
                    r.uuid()
                )
            }
            Table::VpcFlow => {
                let v5 = n % 2 == 0;
                s.push_str(if v5 { VPC_V5_HEADER } else { VPC_V2_HEADER });
                s.push('\n');
                let start = 1_795_000_000 + r.below(300);
                for _ in 0..count {
                    let t = start + r.below(5);
                    vpc_line(&mut r, v5, t, &mut s);
                }
                format!("AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/24/123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20261124T1200Z_{n:08x}.log.gz")
            }
        };
        objects.push(Object {
            key,
            gz: gz6(s.as_bytes()),
            plain_len: s.len(),
            records: count,
        });
    }
    Corpus { table, objects }
}
