//! The binary-size verdict: one row per board with its size against its budget, the
//! printed table, and the messages for boards over budget.

/// One board's measured binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeRow {
    pub board: String,
    pub target: String,
    pub bytes: u64,
    pub budget: u64,
}

impl SizeRow {
    /// Share of the budget still free, in percent; negative when over.
    pub fn headroom_percent(&self) -> f64 {
        (self.budget as f64 - self.bytes as f64) * 100.0 / self.budget.max(1) as f64
    }

    pub fn over_budget(&self) -> bool {
        self.bytes > self.budget
    }
}

/// The table CI prints: board, target, bytes, budget, headroom.
pub fn format_table(rows: &[SizeRow]) -> String {
    let mut out = format!(
        "{:<12} {:<30} {:>10} {:>10} {:>9}\n",
        "board", "target", "bytes", "budget", "headroom"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<12} {:<30} {:>10} {:>10} {:>8.1}%{}\n",
            r.board,
            r.target,
            r.bytes,
            r.budget,
            r.headroom_percent(),
            if r.over_budget() { "  OVER" } else { "" }
        ));
    }
    out
}

/// One line per board over budget, naming the board, its size and its budget.
pub fn over_budget_messages(rows: &[SizeRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.over_budget())
        .map(|r| {
            format!(
                "{}: binary is {} bytes, over its budget of {} bytes by {} bytes",
                r.board,
                r.bytes,
                r.budget,
                r.bytes - r.budget
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(board: &str, bytes: u64, budget: u64) -> SizeRow {
        SizeRow {
            board: board.to_owned(),
            target: "aarch64-unknown-linux-musl".to_owned(),
            bytes,
            budget,
        }
    }

    #[test]
    fn the_table_has_a_header_and_a_row_per_board() {
        let t = format_table(&[row("zynqmp", 397_344, 6_291_456), row("rpi4", 500, 400)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("board") && lines[0].ends_with("headroom"));
        assert_eq!(
            lines[1],
            "zynqmp       aarch64-unknown-linux-musl         397344    6291456     93.7%"
        );
        assert!(lines[2].ends_with("-25.0%  OVER"), "{}", lines[2]);
    }

    #[test]
    fn headroom_is_zero_at_the_budget_and_within_it() {
        let r = row("b", 100, 100);
        assert_eq!(r.headroom_percent(), 0.0);
        assert!(!r.over_budget());
        assert!(row("b", 101, 100).over_budget());
    }

    #[test]
    fn only_boards_over_budget_get_a_message() {
        let msgs = over_budget_messages(&[row("ok", 1, 10), row("zynq7000", 12, 10)]);
        assert_eq!(
            msgs,
            ["zynq7000: binary is 12 bytes, over its budget of 10 bytes by 2 bytes"]
        );
    }
}
