//! The CIDR block Kinesis Data Firehose connects to Redshift from, per
//! region, as AWS publishes it:
//! <https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-rs-vpc>
//!
//! An unknown region is an error: the alternative, a wider rule, would open
//! the warehouse to the internet.

/// (region, CIDR) as published; keep sorted by region.
const FIREHOSE_CIDRS: &[(&str, &str)] = &[
    ("af-south-1", "13.244.121.224/27"),
    ("ap-east-1", "18.162.221.32/27"),
    ("ap-east-2", "43.212.53.160/27"),
    ("ap-northeast-1", "13.113.196.224/27"),
    ("ap-northeast-2", "13.209.1.64/27"),
    ("ap-northeast-3", "13.208.177.192/27"),
    ("ap-south-1", "13.232.67.32/27"),
    ("ap-south-2", "18.60.192.128/27"),
    ("ap-southeast-1", "13.228.64.192/27"),
    ("ap-southeast-2", "13.210.67.224/27"),
    ("ap-southeast-3", "108.136.221.64/27"),
    ("ap-southeast-4", "16.50.161.128/27"),
    ("ap-southeast-5", "43.216.58.0/27"),
    ("ap-southeast-7", "43.208.112.96/27"),
    ("ca-central-1", "35.183.92.128/27"),
    ("ca-west-1", "40.176.98.192/27"),
    ("cn-north-1", "52.81.151.32/27"),
    ("cn-northwest-1", "161.189.23.64/27"),
    ("eu-central-1", "35.158.127.160/27"),
    ("eu-central-2", "16.62.183.32/27"),
    ("eu-north-1", "13.53.63.224/27"),
    ("eu-south-1", "15.161.135.128/27"),
    ("eu-south-2", "18.100.71.96/27"),
    ("eu-west-1", "52.19.239.192/27"),
    ("eu-west-2", "18.130.1.96/27"),
    ("eu-west-3", "35.180.1.96/27"),
    ("il-central-1", "51.16.102.0/27"),
    ("me-central-1", "3.28.159.32/27"),
    ("me-south-1", "15.185.91.0/27"),
    ("mx-central-1", "78.12.207.32/27"),
    ("sa-east-1", "18.228.1.128/27"),
    ("us-east-1", "52.70.63.192/27"),
    ("us-east-2", "13.58.135.96/27"),
    ("us-gov-east-1", "18.253.138.96/27"),
    ("us-gov-west-1", "52.61.204.160/27"),
    ("us-west-1", "13.57.135.192/27"),
    ("us-west-2", "52.89.255.224/27"),
];

#[derive(Debug, thiserror::Error)]
#[error(
    "AWS publishes no Kinesis Data Firehose CIDR for region {region:?}, so the Redshift \
     security group cannot be opened to Firehose there; choose a region from the published \
     table (https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html) or add \
     the region's block to stacks/src/platform/firehose_cidr.rs"
)]
pub struct UnknownFirehoseRegion {
    pub region: String,
}

pub fn firehose_cidr(region: &str) -> Result<&'static str, UnknownFirehoseRegion> {
    FIREHOSE_CIDRS
        .binary_search_by(|(r, _)| (*r).cmp(region))
        .map(|i| FIREHOSE_CIDRS[i].1)
        .map_err(|_| UnknownFirehoseRegion {
            region: region.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_blocks_are_found_by_region() {
        assert_eq!(firehose_cidr("us-east-1").unwrap(), "52.70.63.192/27");
        assert_eq!(firehose_cidr("eu-west-1").unwrap(), "52.19.239.192/27");
    }

    #[test]
    fn an_unknown_region_is_an_error_never_a_wider_rule() {
        let err = firehose_cidr("xx-nowhere-1").unwrap_err().to_string();
        assert!(err.contains("xx-nowhere-1"), "{err}");
    }

    #[test]
    fn the_table_is_sorted_and_every_block_is_a_slash_27() {
        assert!(FIREHOSE_CIDRS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(FIREHOSE_CIDRS.iter().all(|(_, cidr)| cidr.ends_with("/27")));
    }
}
