//! Natural sort order for device names.

/// Compares names with digit runs as numbers: `sda2` < `sda10`, `md2` < `md10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let xn = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let yn = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let xs = std::str::from_utf8(&x[..xn])
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let ys = std::str::from_utf8(&y[..yn])
                    .unwrap_or("0")
                    .trim_start_matches('0');
                let o = xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[xn..];
                y = &y[yn..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "sdb",
            "sda10",
            "sda2",
            "sda",
            "nvme1n1",
            "nvme0n1p1",
            "nvme0n1",
            "md10",
            "md2",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "md2",
                "md10",
                "nvme0n1",
                "nvme0n1p1",
                "nvme1n1",
                "sda",
                "sda2",
                "sda10",
                "sdb"
            ]
        );
    }
}
