//! hsmctl: the Keyhold operator CLI.

fn main() {}
