//! The `hsmctl audit` commands' arguments: which node, which events, which output.

use clap::Subcommand;

/// `hsmctl audit ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Print events of one node's trail, oldest first.
    ///
    /// A table of seq, time (RFC 3339, UTC), caller, action, key id, outcome, log index
    /// and detail. `--json` prints one JSON object per event and line instead, hashes in
    /// hex; `--output json` prints the page as one JSON document.
    Show {
        /// The node whose trail to read.
        #[arg(long, value_name = "ID")]
        node: u64,
        /// First seq to show.
        #[arg(
            long,
            default_value_t = 1,
            value_parser = clap::value_parser!(u64).range(1..),
            value_name = "SEQ"
        )]
        from: u64,
        /// Most events to show (default 100, at most 1000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000), value_name = "N")]
        limit: Option<u32>,
        /// One JSON object per event and line, hashes in hex (for log pipelines).
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain of one node's trail, or of every known node's.
    ///
    /// Reads the whole trail from seq 1, 1000 events a page, and checks that seqs have no
    /// gap, that each event links to the hash of the one before, that each hash matches
    /// its event, and that every event is the node's own. Prints one line per node
    /// ("node 2: 1234 events, chain intact, last hash ..."); exits 1 naming the node and
    /// the seq if a trail is broken or cannot be read.
    Verify {
        /// The node whose trail to check.
        #[arg(long, value_name = "ID", required_unless_present = "all")]
        node: Option<u64>,
        /// Check every node the client knows.
        #[arg(long, conflicts_with = "node")]
        all: bool,
        /// Also require event SEQ to have hash HASH (hex), as written down from an earlier
        /// verify: an intact chain through that anchor proves nothing up to SEQ was
        /// rewritten since. Needs --node.
        #[arg(long, value_name = "SEQ:HASH", conflicts_with = "all", value_parser = parse_anchor)]
        expect: Option<Anchor>,
    },
}

/// An event's seq and the hash it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// The event.
    pub(crate) seq: u64,
    /// Its hash.
    pub(crate) hash: Vec<u8>,
}

fn parse_anchor(text: &str) -> Result<Anchor, String> {
    let (seq, hash) = text
        .split_once(':')
        .ok_or("expected SEQ:HASH, for example 1234:3fa9... (64 hex digits)")?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| format!("seq {seq:?} is not a number"))?;
    if seq == 0 {
        return Err("seq starts at 1".into());
    }
    let hash = hex::decode(hash).map_err(|_| "the hash is not hex".to_string())?;
    if hash.len() != 32 {
        return Err(format!(
            "the hash has {} bytes, a SHA-256 has 32",
            hash.len()
        ));
    }
    Ok(Anchor { seq, hash })
}
