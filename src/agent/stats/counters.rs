//! Parsing the kernel's counters, without I/O: cgroup v1 and v2 CPU and memory files,
//! `/proc/stat` and `/proc/meminfo`. Each function takes the file's text.

/// `cpuacct.usage` (cgroup v1): CPU time in nanoseconds.
pub fn cpuacct_usage_ns(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `cpu.stat` (cgroup v2): the `usage_usec` line, in nanoseconds.
pub fn cpu_stat_usage_ns(text: &str) -> Option<u64> {
    keyed(text, "usage_usec").map(|usec| usec.saturating_mul(1000))
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The kubelet's working set: memory in use minus the inactive file cache (which the kernel
/// reclaims first). `inactive_file` is `total_inactive_file` in v1's `memory.stat` (the
/// hierarchy's total) and `inactive_file` in v2's.
pub fn working_set_bytes(usage_bytes: u64, memory_stat: &str, v2: bool) -> u64 {
    let key = if v2 {
        "inactive_file"
    } else {
        "total_inactive_file"
    };
    usage_bytes.saturating_sub(keyed(memory_stat, key).unwrap_or(0))
}

/// `/proc/stat`'s first line: busy CPU time of all CPUs (user, nice, system, irq, softirq,
/// steal), in nanoseconds, given the clock ticks per second (`USER_HZ`, 100 on Linux).
pub fn proc_stat_busy_ns(text: &str, ticks_per_s: u64) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    Some(busy.saturating_mul(1_000_000_000) / ticks_per_s.max(1))
}

/// `/proc/meminfo`: memory in use, `MemTotal − MemAvailable`, in bytes.
pub fn meminfo_used_bytes(text: &str) -> Option<u64> {
    let kib = |key: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    Some(kib("MemTotal")?.saturating_sub(kib("MemAvailable")?) * 1024)
}

/// Average CPU use between two readings of a cumulative counter, in nano-cores.
pub fn nano_cores(before_ns: u64, after_ns: u64, window_ns: u64) -> u64 {
    if window_ns == 0 {
        return 0;
    }
    let used = u128::from(after_ns.saturating_sub(before_ns));
    (used * 1_000_000_000 / u128::from(window_ns)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_counters_read_in_nanoseconds_for_both_cgroup_versions() {
        assert_eq!(cpuacct_usage_ns("123456789\n"), Some(123_456_789));
        let v2 = "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n";
        assert_eq!(cpu_stat_usage_ns(v2), Some(2_500_000));
        assert_eq!(cpu_stat_usage_ns("user_usec 1\n"), None);
    }

    #[test]
    fn the_working_set_leaves_out_inactive_file_cache() {
        let v1 = "cache 100\ninactive_file 999\ntotal_inactive_file 4096\n";
        assert_eq!(working_set_bytes(10_000, v1, false), 5_904);
        let v2 = "anon 8192\nfile 4096\ninactive_file 1024\n";
        assert_eq!(working_set_bytes(10_000, v2, true), 8_976);
        assert_eq!(working_set_bytes(100, "inactive_file 999\n", true), 0);
    }

    #[test]
    fn proc_stat_busy_time_leaves_out_idle_and_iowait() {
        let text = "cpu  100 20 30 1000 50 5 5 0 0 0\ncpu0 50 10 15 500 25 2 3 0 0 0\n";
        assert_eq!(proc_stat_busy_ns(text, 100), Some(1_600_000_000));
    }

    #[test]
    fn meminfo_used_is_total_minus_available() {
        let text = "MemTotal:        4000000 kB\nMemFree:  100 kB\nMemAvailable:    3000000 kB\n";
        assert_eq!(meminfo_used_bytes(text), Some(1_000_000 * 1024));
    }

    #[test]
    fn cpu_rates_are_nano_cores_over_the_window() {
        // Half a second of CPU in one second: half a core.
        assert_eq!(nano_cores(1_000, 500_001_000, 1_000_000_000), 500_000_000);
        assert_eq!(nano_cores(5, 1, 1_000_000_000), 0);
        assert_eq!(nano_cores(0, 1, 0), 0);
    }
}
