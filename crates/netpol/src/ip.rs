//! CIDRs and IP ranges, IPv4 and IPv6 both held in `u128` with a family tag.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }
}

/// An inclusive address range of one family. Ordered IPv4 first, then by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpRange {
    pub family: Family,
    pub first: u128,
    pub last: u128,
}

impl IpRange {
    pub fn whole(family: Family) -> IpRange {
        IpRange {
            family,
            first: 0,
            last: family.max(),
        }
    }

    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        let (f, a) = addr_to_u128(addr);
        f == self.family && self.first <= a && a <= self.last
    }

    pub fn contains(&self, other: &IpRange) -> bool {
        self.family == other.family && self.first <= other.first && other.last <= self.last
    }
}

impl IpRange {
    /// The smallest list of CIDRs covering exactly this range.
    pub fn cidrs(&self) -> Vec<String> {
        let bits: u32 = if self.family == Family::V4 { 32 } else { 128 };
        let mut out = Vec::new();
        let mut cur = self.first;
        loop {
            // The largest block aligned at `cur` (2^align addresses) that fits in what is left.
            let align = if cur == 0 {
                bits
            } else {
                cur.trailing_zeros().min(bits)
            };
            let left = self.last - cur;
            let fits = if left == u128::MAX {
                128
            } else {
                127 - (left + 1).leading_zeros()
            };
            let k = align.min(fits);
            out.push(format!("{}/{}", u128_to_addr(self.family, cur), bits - k));
            let end = cur
                + if k == 128 {
                    u128::MAX
                } else {
                    (1u128 << k) - 1
                };
            if end >= self.last {
                break;
            }
            cur = end + 1;
        }
        out
    }
}

pub fn addr_to_u128(addr: IpAddr) -> (Family, u128) {
    match addr {
        IpAddr::V4(a) => (Family::V4, u32::from(a) as u128),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

pub fn u128_to_addr(family: Family, v: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

impl fmt::Display for IpRange {
    /// The range as the smallest list of CIDRs covering it ([`IpRange::cidrs`]), separated by
    /// `, `: `10.0.0.0/16, 10.2.0.0/15`. Every output format prints ranges this way.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cidrs().join(", "))
    }
}

/// A parsed CIDR. `host_bits_set` records `10.0.0.1/8`-style input, which the API server
/// accepts for this legacy field (`IsValidCIDRForLegacyField`) and treats as its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub range: IpRange,
    pub prefix: u8,
    pub host_bits_set: bool,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (missing /prefix)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not a valid CIDR: bad IP address"))?;
        let (family, a) = addr_to_u128(addr);
        let bits: u32 = if family == Family::V4 { 32 } else { 128 };
        let prefix: u32 = len
            .parse()
            .ok()
            .filter(|p| {
                *p <= bits && !len.starts_with('+') && (len == "0" || !len.starts_with('0'))
            })
            .ok_or_else(|| format!("{s:?} is not a valid CIDR: bad prefix length"))?;
        let host = if prefix == bits {
            0
        } else {
            family.max() >> prefix
        };
        let first = a & !host & family.max();
        Ok(Cidr {
            range: IpRange {
                family,
                first,
                last: first | host,
            },
            prefix: prefix as u8,
            host_bits_set: first != a,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert_eq!(c.range.to_string(), "10.0.0.0/8");
        assert_eq!(
            Cidr::parse("0.0.0.0/0").unwrap().range,
            IpRange::whole(Family::V4)
        );
        assert_eq!(
            Cidr::parse("::/0").unwrap().range,
            IpRange::whole(Family::V6)
        );
        assert_eq!(
            Cidr::parse("2001:db8::/32").unwrap().range.to_string(),
            "2001:db8::/32"
        );
        let h = Cidr::parse("192.168.1.7/24").unwrap();
        assert!(h.host_bits_set);
        assert_eq!(h.range.to_string(), "192.168.1.0/24");
        assert_eq!(
            Cidr::parse("1.2.3.4/32").unwrap().range.to_string(),
            "1.2.3.4/32"
        );
        assert_eq!(IpRange::whole(Family::V6).cidrs(), ["::/0"]);
        assert_eq!(IpRange::whole(Family::V4).cidrs(), ["0.0.0.0/0"]);
        let r = IpRange {
            family: Family::V4,
            first: 0xAC110200,
            last: 0xAC11FFFF,
        };
        assert_eq!(
            r.cidrs(),
            [
                "172.17.2.0/23",
                "172.17.4.0/22",
                "172.17.8.0/21",
                "172.17.16.0/20",
                "172.17.32.0/19",
                "172.17.64.0/18",
                "172.17.128.0/17"
            ]
        );
        assert_eq!(
            Cidr::parse("10.0.0.0/24").unwrap().range.cidrs(),
            ["10.0.0.0/24"]
        );
        let r = IpRange {
            family: Family::V4,
            first: 5,
            last: 5,
        };
        assert_eq!(r.cidrs(), ["0.0.0.5/32"]);
        // 10.0.0.0/8 except 10.1.0.0/16: the part above the hole is not one CIDR.
        let r = IpRange {
            family: Family::V4,
            first: 0x0A020000,
            last: 0x0AFFFFFF,
        };
        assert_eq!(
            r.to_string(),
            "10.2.0.0/15, 10.4.0.0/14, 10.8.0.0/13, 10.16.0.0/12, 10.32.0.0/11, 10.64.0.0/10, 10.128.0.0/9"
        );
        let r = IpRange {
            family: Family::V6,
            first: 0,
            last: 5,
        };
        assert_eq!(r.to_string(), "::/126, ::4/127");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "010.0.0.0/8",
            "10.0.0.0/08",
            "fe80::/129",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
