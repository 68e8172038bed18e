//! hsmd: the Keyhold node.

fn main() {}
