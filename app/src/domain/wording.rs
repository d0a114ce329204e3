//! How times, ages and values read on a page. Computed alike on the server and in the browser,
//! so a hydrated page shows the same text the server rendered.

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago".
pub fn format_age(age_ms: i64) -> String {
    let seconds = age_ms.max(0) / 1000;
    match seconds {
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A moment split into UTC calendar fields, computed the same way on the server and in the
/// browser (which has no time zone database to agree with), so hydration changes no text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl UtcTime {
    pub fn from_ms(at_ms: i64) -> Self {
        const DAY_MS: i64 = 86_400_000;
        let (days, in_day) = (at_ms.div_euclid(DAY_MS), at_ms.rem_euclid(DAY_MS));
        // Howard Hinnant's days-to-civil: eras of 400 years, years starting in March.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        let seconds = in_day / 1000;
        Self {
            year,
            month: month as u32,
            day: day as u32,
            hour: (seconds / 3600) as u32,
            minute: (seconds / 60 % 60) as u32,
            second: (seconds % 60) as u32,
            millis: (in_day % 1000) as u32,
        }
    }
}

/// The moment of a form's `datetime-local` value ("2026-12-07T10:00", seconds allowed), read as
/// UTC; `None` when it is no such time. Days from the civil date by Howard Hinnant's
/// `days_from_civil`, the inverse of [`UtcTime::from_ms`].
pub fn parse_utc_minute(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(['T', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let mut time_parts = time.splitn(3, ':');
    let hour: i64 = time_parts.next()?.parse().ok()?;
    let minute: i64 = time_parts.next()?.parse().ok()?;
    let second: i64 = match time_parts.next() {
        Some(seconds) => seconds.parse().ok()?,
        None => 0,
    };
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=59).contains(&second)
    {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

/// A moment as a form's `datetime-local` value shows it, in UTC: "2026-12-07T10:00".
pub fn format_utc_input(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// "2026-11-25 10:00:00.123 UTC".
pub fn format_utc(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

/// "2026-11-25 10:00 UTC": a moment as people write it in news, to the minute.
pub fn format_utc_minute(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// A value for a label: at most four decimals, no trailing zeros, exponents for the extremes.
pub fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e12).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Text for XML and HTML (Atom, SVG badges, markup built as a string): the five characters that matter escaped, control
/// characters dropped (XML 1.0 allows none but tab and line breaks).
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::{format_age, format_utc, format_utc_input, format_value, parse_utc_minute};

    #[test]
    fn form_times_read_back_as_the_moment_they_show() {
        for at_ms in [0, 951_782_400_000, 1_795_608_180_000, 4_107_542_340_000] {
            assert_eq!(parse_utc_minute(&format_utc_input(at_ms)), Some(at_ms));
        }
        assert_eq!(
            parse_utc_minute("2024-02-29T12:30"),
            Some(1_709_209_800_000)
        );
        assert_eq!(
            parse_utc_minute("2024-02-29 12:30:15"),
            Some(1_709_209_815_000)
        );
        for bad in [
            "",
            "2023-02-29T10:00",
            "2026-13-01T00:00",
            "2026-01-01T24:00",
            "tomorrow",
            "2026-01-01",
            "1969-12-31T23:59",
        ] {
            assert_eq!(parse_utc_minute(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_shown_in_utc_to_the_millisecond() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(format_utc(1_764_064_800_123), "2025-11-25 10:00:00.123 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59.999 UTC");
    }

    #[test]
    fn ages_are_rounded_down_to_the_largest_whole_unit() {
        assert_eq!(format_age(0), "0 s ago");
        assert_eq!(format_age(59_999), "59 s ago");
        assert_eq!(format_age(60_000), "1 min ago");
        assert_eq!(format_age(3_599_000), "59 min ago");
        assert_eq!(format_age(7_200_000), "2 h ago");
        assert_eq!(format_age(3 * 86_400_000), "3 d ago");
    }

    #[test]
    fn a_clock_slightly_ahead_does_not_show_negative_ages() {
        assert_eq!(format_age(-1500), "0 s ago");
    }

    #[test]
    fn values_read_short() {
        assert_eq!(format_value(21.5), "21.5");
        assert_eq!(format_value(2.0), "2");
        assert_eq!(format_value(-0.00001), "-1.000e-5");
        assert_eq!(format_value(1.0 / 3.0), "0.3333");
        assert_eq!(format_value(0.0), "0");
    }
}
