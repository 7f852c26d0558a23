//! How numbers and counts are written for people: in summaries, messages
//! and progress lines (never in files, which keep full precision).

/// A number as a person writes it: at most 6 significant digits, no
/// trailing zeros (`6.8`, not `6.800000000000001`).
pub fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let s = format!("{:.*}", (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize, x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `1 point`, `3 points`: a count with its noun in the right number.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

#[cfg(test)]
mod tests {
    use super::{count, short};

    #[test]
    fn short_numbers_drop_float_noise() {
        assert_eq!(short(6.800000000000001), "6.8");
        assert_eq!(short(20.0), "20");
        assert_eq!(short(0.000123456789), "0.000123457");
        assert_eq!(short(123456.7), "123457");
        assert_eq!(short(-1.5), "-1.5");
    }

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "axis", "axes"), "1 axis");
        assert_eq!(count(3, "point", "points"), "3 points");
        assert_eq!(count(0, "point", "points"), "0 points");
    }
}
