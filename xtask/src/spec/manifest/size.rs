//! Human memory sizes as qemu and ops take them: `512M`, `4G`, `2048MiB`.
//! Units are binary (K = 1024). Gevulot wants whole MiB.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemorySize {
    bytes: u64,
}

const MIB: u64 = 1 << 20;
/// Nanos and a prover need some room; below this is a typo.
pub const MIN_MEMORY: u64 = 64 * MIB;
/// Far beyond any Gevulot node.
pub const MAX_MEMORY: u64 = 1 << 40;

impl MemorySize {
    pub fn mib(self) -> u64 {
        self.bytes / MIB
    }

    /// The form qemu's `-m` and ops's `RunConfig.Memory` take.
    pub fn qemu(self) -> String {
        if self.bytes.is_multiple_of(1 << 30) {
            format!("{}G", self.bytes >> 30)
        } else {
            format!("{}M", self.mib())
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let expected =
            "expected a whole number with a unit K, M, G or T (binary, as qemu reads them), e.g. \"512M\" or \"4G\"";
        let t = text.trim();
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(digits_end);
        if digits.is_empty() {
            return Err(format!("memory {text:?} does not start with a number; {expected}"));
        }
        let value: u64 = digits.parse().map_err(|_| format!("memory {text:?} is too large; {expected}"))?;
        if value == 0 {
            return Err(format!("memory {text:?} is zero; give the memory the image needs, e.g. \"2G\""));
        }
        let shift = match unit.trim().to_ascii_uppercase().as_str() {
            "K" | "KB" | "KIB" => 10,
            "M" | "MB" | "MIB" => 20,
            "G" | "GB" | "GIB" => 30,
            "T" | "TB" | "TIB" => 40,
            "" => return Err(format!("memory {text:?} has no unit; {expected}")),
            other => return Err(format!("memory {text:?} has unknown unit {other:?}; {expected}")),
        };
        let bytes =
            value.checked_mul(1u64 << shift).ok_or_else(|| format!("memory {text:?} is too large; {expected}"))?;
        if !bytes.is_multiple_of(MIB) {
            return Err(format!("memory {text:?} is not a whole number of MiB (Gevulot deploys memory in MiB)"));
        }
        if bytes < MIN_MEMORY {
            return Err(format!("memory {text:?} is below the 64M a Nanos prover needs"));
        }
        if bytes > MAX_MEMORY {
            return Err(format!("memory {text:?} is more than 1T; check the unit"));
        }
        Ok(Self { bytes })
    }
}

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qemu())
    }
}

impl<'de> serde::Deserialize<'de> for MemorySize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for MemorySize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.qemu())
    }
}

/// A disk size such as `"64M"` (binary units K, M, G), for a filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DiskSize {
    bytes: u64,
}

impl DiskSize {
    pub fn bytes(self) -> u64 {
        self.bytes
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = "expected a whole number with a unit K, M or G (binary), e.g. \"64M\"";
        let t = text.trim();
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(digits_end);
        let value: u64 =
            digits.parse().map_err(|_| format!("size {text:?} does not start with a number; {expected}"))?;
        let shift = match unit.to_ascii_uppercase().as_str() {
            "K" | "KIB" => 10,
            "M" | "MIB" => 20,
            "G" | "GIB" => 30,
            "" => return Err(format!("size {text:?} has no unit; {expected}")),
            other => return Err(format!("size {text:?} has unknown unit {other:?}; {expected}")),
        };
        let bytes = value
            .checked_mul(1u64 << shift)
            .filter(|b| *b < 1 << 41)
            .ok_or_else(|| format!("size {text:?} is too large: an MBR partition holds at most 2T"))?;
        if bytes < MIB {
            return Err(format!("size {text:?} is below 1M, less than a filesystem's own log needs"));
        }
        Ok(Self { bytes })
    }
}

impl<'de> serde::Deserialize<'de> for DiskSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_sizes() {
        assert_eq!(MemorySize::parse("4G").unwrap().mib(), 4096);
        assert_eq!(MemorySize::parse("512M").unwrap().mib(), 512);
        assert_eq!(MemorySize::parse("2048MiB").unwrap().mib(), 2048);
        assert_eq!(MemorySize::parse("1g").unwrap().qemu(), "1G");
        assert_eq!(MemorySize::parse("1536M").unwrap().qemu(), "1536M");
        assert_eq!(MemorySize::parse("65536K").unwrap().mib(), 64);
    }

    #[test]
    fn rejects_bad_sizes() {
        for bad in ["", "G", "4", "4X", "0G", "0", "-1G", "1.5G", "100K", "32M", "2T", "99999999999999999999G"] {
            assert!(MemorySize::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn disk_sizes() {
        assert_eq!(DiskSize::parse("64M").unwrap().bytes(), 64 << 20);
        assert_eq!(DiskSize::parse("2g").unwrap().bytes(), 2 << 30);
        assert_eq!(DiskSize::parse("1024K").unwrap().bytes(), 1 << 20);
        for bad in ["", "64", "64X", "512K", "0M", "4096G", "1.5G"] {
            assert!(DiskSize::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
